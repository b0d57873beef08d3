"""Reading VP8 and H264 RTP payloads: the first packet of a keyframe, and where the
VP8 PictureID is.

A subscription that starts (or resumes) forwarding video waits for a keyframe:
whatever comes before it cannot be decoded by the receiver.
"""

from __future__ import annotations

H264_NAL_IDR = 5
H264_NAL_SPS = 7
H264_NAL_STAP_A = 24
H264_NAL_FU_A = 28


def vp8_picture_id(payload: bytes) -> tuple[int, int] | None:
    """Where the PictureID of a VP8 payload descriptor (RFC 7741) is: (byte offset,
    width in bits, 7 or 15), or None when the descriptor carries none."""
    if len(payload) < 3 or not payload[0] & 0x80 or not payload[1] & 0x80:
        return None
    if payload[2] & 0x80:
        return (2, 15) if len(payload) >= 4 else None  # truncated: no room for 15 bits
    return 2, 7


def _vp8_descriptor_length(payload: bytes) -> int | None:
    """The length of the VP8 payload descriptor, or None for a truncated one."""
    if not payload:
        return None
    first = payload[0]
    offset = 1
    if first & 0x80:  # X: extended control bits present
        if len(payload) < 2:
            return None
        extended = payload[1]
        offset = 2
        if extended & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= offset:
                return None
            offset += 2 if payload[offset] & 0x80 else 1
        if extended & 0x40:  # L: TL0PICIDX
            offset += 1
        if extended & 0x30:  # T or K: TID/Y/KEYIDX
            offset += 1
    return offset


def vp8_starts_keyframe(payload: bytes) -> bool:
    """True when the payload starts partition 0 of a VP8 key frame (RFC 7741)."""
    if len(payload) < 2:
        return False
    first = payload[0]
    start_of_partition = first & 0x10
    partition_id = first & 0x07
    if not start_of_partition or partition_id != 0:
        return False
    offset = _vp8_descriptor_length(payload)
    if offset is None or len(payload) <= offset:
        return False
    # VP8 payload header: bit 0 of the first byte is the inverse key frame flag.
    return payload[offset] & 0x01 == 0


def h264_starts_keyframe(payload: bytes) -> bool:
    """True when the payload carries an SPS or the start of an IDR slice (RFC 6184)."""
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (H264_NAL_IDR, H264_NAL_SPS):
        return True
    if nal_type == H264_NAL_STAP_A:
        offset = 1
        while offset + 2 < len(payload):
            size = int.from_bytes(payload[offset : offset + 2], "big")
            offset += 2
            if size == 0 or offset + size > len(payload):
                return False
            if payload[offset] & 0x1F in (H264_NAL_IDR, H264_NAL_SPS):
                return True
            offset += size
        return False
    if nal_type == H264_NAL_FU_A and len(payload) >= 2:
        fu_header = payload[1]
        return bool(fu_header & 0x80) and fu_header & 0x1F in (H264_NAL_IDR, H264_NAL_SPS)
    return False


def starts_keyframe(mime_type: str, payload: bytes) -> bool:
    """Dispatch on the codec's mime type ("video/VP8", "video/H264"); audio is never
    a keyframe and needs none."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return vp8_starts_keyframe(payload)
    if mime == "video/h264":
        return h264_starts_keyframe(payload)
    return False
