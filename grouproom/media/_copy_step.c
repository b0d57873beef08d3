/*
 * The per-copy step of forwarding, compiled: for one incoming packet, every
 * subscription whose state is the usual one (started, wanted, not waiting for a
 * keyframe, in the middle of a run, a direct route that still holds) gets its
 * copy here: the munger's next numbers, the VP8 PictureID, the RTP header, SRTP
 * (libsrtp's srtp_protect, the function pylibsrtp links) and the UDP send.
 * Every other subscription is handed to its Python `forward`, which stays the
 * reference: this file repeats subscription.py, munger.py and rtp_header.py for
 * the common case and must give the same bytes (tests/media/test_copy_step.py).
 *
 * The receive step below does the same for direct_receive.py's handler of an
 * RTP datagram (unprotect, source, budget, parse, route, deliver), the
 * publication step for Publication.on_rtp and the bitrate estimator's step for
 * each packet, and the mux step for the media socket's datagram up to that
 * handler.
 *
 * All state stays in the Python objects: the steps read and write the same
 * attributes the Python code does, so either may handle any packet.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#if PY_VERSION_HEX < 0x030D0000
#define PyObject_GetOptionalAttr _PyObject_LookupAttr
#endif

#ifndef COPY_STEP_SOURCE_HASH
#define COPY_STEP_SOURCE_HASH "unknown"
#endif

#define SEQ_MOD 65536L
#define HALF_SEQ 32768L
/* libsrtp's trailer (tag and MKI): pylibsrtp's own margin. */
#define SRTP_ROOM (16 + 128)
#define BUFFER_SIZE 4096

typedef int (*srtp_protect_function)(void *ctx, void *rtp_header, int *length);

static srtp_protect_function srtp_protect = NULL;
static int srtp_ok = 0;
static PyObject *srtp_error = NULL; /* pylibsrtp.Error, raised as its own calls do */
static PyObject *dtls_connected = NULL; /* aiortc's DTLS State.CONNECTED */
static PyObject *component_one = NULL;  /* the int 1: the RTP component's key */
/* subscription.Subscription: anything else (a subclass, a stand-in) goes to its
 * own forward(). */
static PyObject *subscription_type = NULL;
static unsigned char buffer[BUFFER_SIZE];

/* The attributes read and written once per copy. Those of classes with
 * __slots__ (subscription.Subscription, endpoints.SendState, munger.Munger and
 * PictureIdMunger, endpoints.DirectRoute, rtp_header.RtpHeaderWriter) are read
 * at their place in the object, found once from the class's member descriptor
 * (set_classes), for objects of exactly that class; anything else goes through
 * getattr. */
enum {
    SUBSCRIPTION_SEND_STATE, SUBSCRIPTION_CLOSED, SUBSCRIPTION_WANTED, SUBSCRIPTION_WAITING,
    SUBSCRIPTION_PAYLOAD_TYPES, SUBSCRIPTION_MUNGER, SUBSCRIPTION_PICTURE_IDS,
    STATE_STARTED, STATE_ROUTE, STATE_WRITER, STATE_PACKETS, STATE_OCTETS,
    MUNGER_RESYNC, MUNGER_HIGHEST, MUNGER_SEQ_OFFSET, MUNGER_TS_OFFSET, MUNGER_RUN_START,
    MUNGER_LAST_SEQ, MUNGER_LAST_TS, MUNGER_LAST_TIME,
    PICTURE_NEW_SOURCE, PICTURE_OFFSET, PICTURE_LAST_OUT,
    ROUTE_DTLS, ROUTE_NOMINATED, ROUTE_PAIR, ROUTE_SESSION, ROUTE_TRANSPORT, ROUTE_FD,
    ROUTE_SOCKADDR, ROUTE_SRTP_HANDLE, ROUTE_SEND, ROUTE_ADDRESS,
    WRITER_SSRC, WRITER_MID, WRITER_TIME_ID, WRITER_LEVEL_ID,
    RECEIVE_DTLS, RECEIVE_SESSION, RECEIVE_SRTP_HANDLE, RECEIVE_SOURCES, RECEIVE_BUDGET,
    RECEIVE_IDS, RECEIVE_SSRC_TABLE, RECEIVE_PAYLOAD_TYPE_TABLE, RECEIVE_DELIVER,
    RECEIVE_DELIVER_LATER, RECEIVE_HANDLE, RECEIVE_AFTER_UNPROTECT, RECEIVE_ROUTE_AND_DELIVER,
    BUDGET_BYTES_RATE, BUDGET_DATAGRAMS_RATE, BUDGET_BYTES, BUDGET_DATAGRAMS, BUDGET_AT,
    FORWARDED_PACKET, FORWARDED_SEQ, FORWARDED_TIMESTAMP, FORWARDED_PAYLOAD_TYPE, FORWARDED_CODEC,
    FORWARDED_KEYFRAME, FORWARDED_PAYLOAD, FORWARDED_MARKER, FORWARDED_ABS_SEND_TIME,
    FORWARDED_AUDIO_LEVEL, FORWARDED_PICTURE_ID_AT,
    SLOT_COUNT
};

typedef struct {
    const char *group; /* the keyword of set_classes that names the class */
    const char *attribute;
    PyObject *name;         /* interned */
    PyTypeObject *type;     /* NULL: always getattr */
    Py_ssize_t offset;
} Slot;

static Slot slots[SLOT_COUNT] = {
    [SUBSCRIPTION_SEND_STATE] = {"subscription", "send_state"},
    [SUBSCRIPTION_CLOSED] = {"subscription", "closed"},
    [SUBSCRIPTION_WANTED] = {"subscription", "wanted"},
    [SUBSCRIPTION_WAITING] = {"subscription", "waiting_for_keyframe"},
    [SUBSCRIPTION_PAYLOAD_TYPES] = {"subscription", "_payload_types"},
    [SUBSCRIPTION_MUNGER] = {"subscription", "munger"},
    [SUBSCRIPTION_PICTURE_IDS] = {"subscription", "picture_ids"},
    [STATE_STARTED] = {"send_state", "started"},
    [STATE_ROUTE] = {"send_state", "route"},
    [STATE_WRITER] = {"send_state", "header_writer"},
    [STATE_PACKETS] = {"send_state", "packets_sent"},
    [STATE_OCTETS] = {"send_state", "octets_sent"},
    [MUNGER_RESYNC] = {"munger", "_resync"},
    [MUNGER_HIGHEST] = {"munger", "highest_in_seq"},
    [MUNGER_SEQ_OFFSET] = {"munger", "seq_offset"},
    [MUNGER_TS_OFFSET] = {"munger", "ts_offset"},
    [MUNGER_RUN_START] = {"munger", "run_start_seq"},
    [MUNGER_LAST_SEQ] = {"munger", "last_seq"},
    [MUNGER_LAST_TS] = {"munger", "last_ts"},
    [MUNGER_LAST_TIME] = {"munger", "last_time"},
    [PICTURE_NEW_SOURCE] = {"picture_ids", "_new_source"},
    [PICTURE_OFFSET] = {"picture_ids", "offset"},
    [PICTURE_LAST_OUT] = {"picture_ids", "last_out"},
    [ROUTE_DTLS] = {"route", "dtls"},
    [ROUTE_NOMINATED] = {"route", "nominated"},
    [ROUTE_PAIR] = {"route", "pair"},
    [ROUTE_SESSION] = {"route", "session"},
    [ROUTE_TRANSPORT] = {"route", "transport"},
    [ROUTE_FD] = {"route", "fd"},
    [ROUTE_SOCKADDR] = {"route", "sockaddr"},
    [ROUTE_SRTP_HANDLE] = {"route", "srtp_handle"},
    [ROUTE_SEND] = {"route", "send"},
    [ROUTE_ADDRESS] = {"route", "address"},
    [WRITER_SSRC] = {"writer", "ssrc"},
    [WRITER_MID] = {"writer", "mid_element"},
    [WRITER_TIME_ID] = {"writer", "abs_send_time_id"},
    [WRITER_LEVEL_ID] = {"writer", "audio_level_id"},
    [RECEIVE_DTLS] = {"receive", "dtls"},
    [RECEIVE_SESSION] = {"receive", "session"},
    [RECEIVE_SRTP_HANDLE] = {"receive", "srtp_handle"},
    [RECEIVE_SOURCES] = {"receive", "sources"},
    [RECEIVE_BUDGET] = {"receive", "budget"},
    [RECEIVE_IDS] = {"receive", "ids"},
    [RECEIVE_SSRC_TABLE] = {"receive", "ssrc_table"},
    [RECEIVE_PAYLOAD_TYPE_TABLE] = {"receive", "payload_type_table"},
    [RECEIVE_DELIVER] = {"receive", "deliver"},
    [RECEIVE_DELIVER_LATER] = {"receive", "deliver_later"},
    [RECEIVE_HANDLE] = {"receive", "handle"},
    [RECEIVE_AFTER_UNPROTECT] = {"receive", "after_unprotect"},
    [RECEIVE_ROUTE_AND_DELIVER] = {"receive", "route_and_deliver"},
    [BUDGET_BYTES_RATE] = {"budget", "bytes_per_second"},
    [BUDGET_DATAGRAMS_RATE] = {"budget", "datagrams_per_second"},
    [BUDGET_BYTES] = {"budget", "_bytes"},
    [BUDGET_DATAGRAMS] = {"budget", "_datagrams"},
    [BUDGET_AT] = {"budget", "_at"},
    [FORWARDED_PACKET] = {"forwarded", "packet"},
    [FORWARDED_SEQ] = {"forwarded", "seq"},
    [FORWARDED_TIMESTAMP] = {"forwarded", "timestamp"},
    [FORWARDED_PAYLOAD_TYPE] = {"forwarded", "payload_type"},
    [FORWARDED_CODEC] = {"forwarded", "codec"},
    [FORWARDED_KEYFRAME] = {"forwarded", "keyframe"},
    [FORWARDED_PAYLOAD] = {"forwarded", "payload"},
    [FORWARDED_MARKER] = {"forwarded", "marker"},
    [FORWARDED_ABS_SEND_TIME] = {"forwarded", "abs_send_time"},
    [FORWARDED_AUDIO_LEVEL] = {"forwarded", "audio_level"},
    [FORWARDED_PICTURE_ID_AT] = {"forwarded", "picture_id_at"},
};

/* The attribute, a new reference (NULL and an exception when it is missing). */
static inline PyObject *get(PyObject *object, int slot) {
    const Slot *place = &slots[slot];
    if (Py_TYPE(object) == place->type) {
        PyObject *value = *(PyObject **)((char *)object + place->offset);
        if (value != NULL)
            return Py_NewRef(value);
    }
    return PyObject_GetAttr(object, place->name);
}

static inline int set(PyObject *object, int slot, PyObject *value) {
    const Slot *place = &slots[slot];
    if (Py_TYPE(object) == place->type) {
        PyObject **field = (PyObject **)((char *)object + place->offset);
        PyObject *old = *field;
        *field = Py_NewRef(value);
        Py_XDECREF(old);
        return 0;
    }
    return PyObject_SetAttr(object, place->name, value);
}

/* Attribute names, interned once. */
#define NAMES(X)                                                                    \
    X(_state) X(_tx_srtp) X(forward) X(seq) X(timestamp) X(payload_type) X(marker)    \
    X(abs_send_time) X(audio_level) X(payload) X(picture_id_at)                       \
    X(get_write_buffer_size) X(is_closing) X(_rx_srtp) X(version) X(sequence_number)      \
    X(ssrc) X(csrc) X(extensions) X(padding_size) X(mid) X(repaired_rtp_stream_id)          \
    X(rtp_stream_id) X(transmission_offset) X(transport_sequence_number) X(by_address)      \
    X(receiver) X(local_candidate) X(component) X(data_received) X(_route) X(base_seq)         \
    X(max_seq) X(cycles) X(packets_received) X(_clockrate) X(_jitter_q4) X(_last_arrival)      \
    X(_last_timestamp) X(add) X(bandwidth) X(report_incoming) X(_mask) X(_seqs) X(_items)       \
    X(_queue) X(append) X(_work) X(_scheduled) X(_loop) X(_next_slice) X(call_soon)             \
    X(forward_copies) X(subscriptions) X(codecs) X(_statistics) X(media_ssrc)                   \
    X(_vp8_payload_types) X(is_video) X(enabled) X(_nack) X(buffer) X(_fan_out) X(_estimator)   \
    X(highest) X(put) X(_keyframe_start) X(publication) X(on_rtp) X(arrival_time_ms)            \
    X(payload_size) X(incoming_bitrate) X(incoming_bitrate_initialized) X(_origin_ms)             \
    X(_window_size) X(_origin_index) X(_counts) X(_values) X(_total_count) X(_total_value)        \
    X(reset) X(inter_arrival) X(current_group) X(previous_group) X(first_timestamp)              \
    X(last_timestamp) X(arrival_time) X(size) X(timestamp_to_ms) X(group_length) X(ssrcs)         \
    X(last_update_ms) X(_feedback_interval_ms) X(detector) X(hypothesis) X(after_grouping)       \
    X(estimator) X(_history) X(popleft) X(avg_noise) X(var_noise) X(_num_of_deltas) X(E)          \
    X(process_noise) X(_offset) X(previous_offset) X(slope) X(threshold) X(k_up) X(k_down)        \
    X(overuse_time) X(overuse_counter) X(overuse_time_threshold)
#define DECLARE(name) static PyObject *name_##name = NULL;
NAMES(DECLARE)
#undef DECLARE

/* What is read once per incoming packet. */
typedef struct {
    PyObject *forwarded;
    PyObject *payload_object; /* the payload's bytes object (a new reference) */
    PyObject *payload_type;   /* the incoming payload type, a dict key (a new reference) */
    long seq;
    unsigned long timestamp;
    int marker;
    int has_time;
    unsigned long abs_send_time;
    int has_level;
    int voice;
    long level;
    const unsigned char *payload;
    Py_ssize_t payload_length;
    int has_picture_id;
    Py_ssize_t picture_position;
    int picture_bits;
} Packet;

/* The transport last asked whether it has datagrams queued (most routes share
 * the one media socket's), for one call of forward_copies. */
typedef struct {
    PyObject *transport; /* borrowed: held by a route during the call */
    int queue_empty;
} TransportState;

/* The truth of a value, whose reference it takes; -1 for NULL (an error). */
static int truth_of(PyObject *value) {
    if (value == NULL)
        return -1;
    int result = PyObject_IsTrue(value);
    Py_DECREF(value);
    return result;
}

/* A value that is an int or None, whose reference it takes: *is_none set for
 * None. -1 and an exception for NULL or anything else. */
static int long_of(PyObject *value, long *result, int *is_none) {
    if (value == NULL)
        return -1;
    *is_none = value == Py_None;
    if (*is_none) {
        Py_DECREF(value);
        return 0;
    }
    *result = PyLong_AsLong(value);
    Py_DECREF(value);
    if (*result == -1 && PyErr_Occurred())
        return -1;
    return 0;
}

static int truthy_slot(PyObject *object, int slot) {
    return truth_of(get(object, slot));
}

static int long_attribute(PyObject *object, PyObject *name, long *result, int *is_none) {
    return long_of(PyObject_GetAttr(object, name), result, is_none);
}

static int long_slot(PyObject *object, int slot, long *result, int *is_none) {
    return long_of(get(object, slot), result, is_none);
}

/* set() with a new reference it takes (NULL: an error already raised). */
static int set_new_slot(PyObject *object, int slot, PyObject *value) {
    if (value == NULL)
        return -1;
    int result = set(object, slot, value);
    Py_DECREF(value);
    return result;
}

static int set_long_slot(PyObject *object, int slot, long value) {
    return set_new_slot(object, slot, PyLong_FromLong(value));
}

static int add_to(PyObject *object, int slot, Py_ssize_t amount) {
    PyObject *value = get(object, slot);
    if (value == NULL)
        return -1;
    PyObject *step = PyLong_FromSsize_t(amount);
    if (step == NULL) {
        Py_DECREF(value);
        return -1;
    }
    PyObject *sum = PyNumber_Add(value, step);
    Py_DECREF(value);
    Py_DECREF(step);
    if (sum == NULL)
        return -1;
    int result = set(object, slot, sum);
    Py_DECREF(sum);
    return result;
}

/* The references a Packet holds. */
static void release_packet(Packet *packet) {
    Py_CLEAR(packet->payload_object);
    Py_CLEAR(packet->payload_type);
}

/* 0: `packet` read; -1: something unexpected (no exception set), and every
 * subscription takes the Python path. Either way release_packet after. */
static int read_packet(PyObject *forwarded, Packet *packet) {
    int is_none;
    long value;
    memset(packet, 0, sizeof(*packet));
    packet->forwarded = forwarded;
    packet->payload_object = PyObject_GetAttr(forwarded, name_payload);
    if (packet->payload_object == NULL || !PyBytes_Check(packet->payload_object))
        goto wrong;
    packet->payload = (const unsigned char *)PyBytes_AS_STRING(packet->payload_object);
    packet->payload_length = PyBytes_GET_SIZE(packet->payload_object);
    packet->payload_type = PyObject_GetAttr(forwarded, name_payload_type);
    if (packet->payload_type == NULL)
        goto wrong;
    if (long_attribute(forwarded, name_seq, &packet->seq, &is_none) < 0 || is_none)
        goto wrong;
    if (long_attribute(forwarded, name_timestamp, &value, &is_none) < 0 || is_none)
        goto wrong;
    packet->timestamp = (unsigned long)value;
    if (long_attribute(forwarded, name_marker, &value, &is_none) < 0 || is_none)
        goto wrong;
    packet->marker = value ? 1 : 0;
    if (long_attribute(forwarded, name_abs_send_time, &value, &is_none) < 0)
        goto wrong;
    packet->has_time = !is_none;
    packet->abs_send_time = is_none ? 0 : (unsigned long)value;

    PyObject *level = PyObject_GetAttr(forwarded, name_audio_level);
    if (level == NULL)
        goto wrong;
    if (level != Py_None) {
        if (!PyTuple_Check(level) || PyTuple_GET_SIZE(level) != 2) {
            Py_DECREF(level);
            goto wrong;
        }
        packet->has_level = 1;
        packet->voice = PyObject_IsTrue(PyTuple_GET_ITEM(level, 0));
        packet->level = PyLong_AsLong(PyTuple_GET_ITEM(level, 1));
        if (packet->voice < 0 || (packet->level == -1 && PyErr_Occurred())) {
            Py_DECREF(level);
            goto wrong;
        }
    }
    Py_DECREF(level);

    PyObject *located = PyObject_GetAttr(forwarded, name_picture_id_at);
    if (located == NULL)
        goto wrong;
    if (located != Py_None) {
        if (!PyTuple_Check(located) || PyTuple_GET_SIZE(located) != 2) {
            Py_DECREF(located);
            goto wrong;
        }
        packet->has_picture_id = 1;
        packet->picture_position = PyLong_AsSsize_t(PyTuple_GET_ITEM(located, 0));
        packet->picture_bits = (int)PyLong_AsLong(PyTuple_GET_ITEM(located, 1));
        if (PyErr_Occurred()) {
            Py_DECREF(located);
            goto wrong;
        }
    }
    Py_DECREF(located);
    return 0;
wrong:
    /* Anything unexpected: every subscription takes the Python path. */
    PyErr_Clear();
    return -1;
}

/* 1: the copy can be made here; 0: the Python forward() decides; -1: error. */
static int usable_route(PyObject *route) {
    PyObject *dtls = get(route, ROUTE_DTLS);
    if (dtls == NULL)
        return -1;
    PyObject *state = PyObject_GetAttr(dtls, name__state);
    if (state == NULL) {
        Py_DECREF(dtls);
        return -1;
    }
    int usable = state == dtls_connected;
    Py_DECREF(state);
    if (usable) {
        PyObject *session = get(route, ROUTE_SESSION);
        PyObject *current = session ? PyObject_GetAttr(dtls, name__tx_srtp) : NULL;
        usable = current != NULL && current == session;
        Py_XDECREF(session);
        Py_XDECREF(current);
        if (current == NULL) {
            Py_DECREF(dtls);
            return -1;
        }
    }
    Py_DECREF(dtls);
    if (!usable)
        return 0;
    PyObject *nominated = get(route, ROUTE_NOMINATED);
    if (nominated == NULL)
        return -1;
    PyObject *pair = get(route, ROUTE_PAIR);
    if (pair == NULL) {
        Py_DECREF(nominated);
        return -1;
    }
    PyObject *current = PyDict_Check(nominated) ? PyDict_GetItemWithError(nominated, component_one)
                                                : NULL;
    usable = current != NULL && current == pair;
    Py_DECREF(nominated);
    Py_DECREF(pair);
    if (PyErr_Occurred())
        return -1;
    return usable;
}

/* The RTP header (RFC 3550, RFC 8285 one-byte extensions) as RtpHeaderWriter
 * writes it; its length, or -1 when this writer is not one to write here. */
static Py_ssize_t write_header(PyObject *writer, const Packet *packet, long payload_type,
                               long seq, unsigned long timestamp, unsigned char *out) {
    int is_none;
    long ssrc, time_id, level_id;
    if (long_slot(writer, WRITER_SSRC, &ssrc, &is_none) < 0 || is_none)
        return -1;
    if (long_slot(writer, WRITER_TIME_ID, &time_id, &is_none) < 0 || is_none)
        return -1;
    if (long_slot(writer, WRITER_LEVEL_ID, &level_id, &is_none) < 0 || is_none)
        return -1;
    PyObject *mid = get(writer, WRITER_MID);
    if (mid == NULL)
        return -1;
    if (!PyBytes_Check(mid)) {
        Py_DECREF(mid);
        return -1;
    }
    Py_ssize_t mid_length = PyBytes_GET_SIZE(mid);
    int with_time = packet->has_time && time_id;
    int with_level = packet->has_level && level_id;
    int extended = mid_length || with_time || with_level;
    uint32_t ssrc32 = (uint32_t)ssrc;
    uint32_t timestamp32 = (uint32_t)timestamp;
    out[0] = extended ? 0x90 : 0x80;
    out[1] = (unsigned char)((packet->marker << 7) | (payload_type & 0x7F));
    out[2] = (unsigned char)(seq >> 8);
    out[3] = (unsigned char)seq;
    out[4] = (unsigned char)(timestamp32 >> 24);
    out[5] = (unsigned char)(timestamp32 >> 16);
    out[6] = (unsigned char)(timestamp32 >> 8);
    out[7] = (unsigned char)timestamp32;
    out[8] = (unsigned char)(ssrc32 >> 24);
    out[9] = (unsigned char)(ssrc32 >> 16);
    out[10] = (unsigned char)(ssrc32 >> 8);
    out[11] = (unsigned char)ssrc32;
    if (!extended) {
        Py_DECREF(mid);
        return 12;
    }
    Py_ssize_t length = mid_length + 4 * with_time + 2 * with_level;
    Py_ssize_t padding = (4 - length % 4) % 4;
    Py_ssize_t words = (length + padding) / 4;
    out[12] = 0xBE;
    out[13] = 0xDE;
    out[14] = (unsigned char)(words >> 8);
    out[15] = (unsigned char)words;
    unsigned char *at = out + 16;
    memcpy(at, PyBytes_AS_STRING(mid), (size_t)mid_length);
    Py_DECREF(mid);
    at += mid_length;
    if (with_time) {
        uint32_t word = ((uint32_t)(time_id << 4 | 2) << 24) | (uint32_t)packet->abs_send_time;
        at[0] = (unsigned char)(word >> 24);
        at[1] = (unsigned char)(word >> 16);
        at[2] = (unsigned char)(word >> 8);
        at[3] = (unsigned char)word;
        at += 4;
    }
    if (with_level) {
        uint16_t word = (uint16_t)(level_id << 12 | (packet->voice ? 0x80 : 0) | (packet->level & 0x7F));
        at[0] = (unsigned char)(word >> 8);
        at[1] = (unsigned char)word;
        at += 2;
    }
    memset(at, 0, (size_t)padding);
    return 16 + words * 4;
}

static int call_forward(PyObject *subscription, PyObject *forwarded, PyObject *now) {
    PyObject *result = PyObject_CallMethodObjArgs(subscription, name_forward, forwarded, now, NULL);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

/* Send the protected datagram in `buffer`: straight to the socket while its
 * transport has nothing queued, otherwise (or when the socket refuses) through
 * the route's own send, which queues and reports errors as the transport does. */
static int send_copy(PyObject *route, Py_ssize_t length, long fd, PyObject *sockaddr,
                     TransportState *transports) {
    PyObject *transport = get(route, ROUTE_TRANSPORT);
    if (transport == NULL)
        return -1;
    if (transport != transports->transport) {
        /* A closing transport's socket may be gone, its number taken by another. */
        PyObject *closing = PyObject_CallMethodNoArgs(transport, name_is_closing);
        int is_closing = closing ? PyObject_IsTrue(closing) : -1;
        Py_XDECREF(closing);
        if (is_closing < 0) {
            Py_DECREF(transport);
            return -1;
        }
        PyObject *size = is_closing ? Py_NewRef(Py_True)
                                    : PyObject_CallMethodNoArgs(transport, name_get_write_buffer_size);
        if (size == NULL) {
            Py_DECREF(transport);
            return -1;
        }
        int queued = PyObject_IsTrue(size);
        Py_DECREF(size);
        if (queued < 0) {
            Py_DECREF(transport);
            return -1;
        }
        transports->transport = transport;
        transports->queue_empty = !queued;
    }
    Py_DECREF(transport); /* the route holds it */
    if (transports->queue_empty) {
        ssize_t sent = sendto((int)fd, buffer, (size_t)length, 0,
                              (const struct sockaddr *)PyBytes_AS_STRING(sockaddr),
                              (socklen_t)PyBytes_GET_SIZE(sockaddr));
        if (sent == length)
            return 0;
    }
    /* Queued behind earlier datagrams, or refused (a full socket buffer, an
     * error the transport reports to its protocol): the transport's own way,
     * and the next copy asks the transport afresh. */
    transports->transport = NULL;
    PyObject *data = PyBytes_FromStringAndSize((const char *)buffer, length);
    if (data == NULL)
        return -1;
    PyObject *send = get(route, ROUTE_SEND);
    PyObject *address = send ? get(route, ROUTE_ADDRESS) : NULL;
    PyObject *result = address ? PyObject_CallFunctionObjArgs(send, data, address, NULL) : NULL;
    Py_DECREF(data);
    Py_XDECREF(send);
    Py_XDECREF(address);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

/* One subscription's copy. 1: made here; 0: handed to Python; -1: error. */
static int copy_one(PyObject *subscription, const Packet *packet, PyObject *now_object,
                    TransportState *transports) {
    PyObject *state = NULL, *munger = NULL, *route = NULL, *writer = NULL, *sockaddr = NULL;
    PyObject *picture_ids = NULL;
    int result = -1;
    int flag;
    int is_none;
    long value;

    state = get(subscription, SUBSCRIPTION_SEND_STATE);
    if (state == NULL)
        goto done;
    /* Subscription.forward's first checks: nothing is sent at all. */
    if ((flag = truthy_slot(state, STATE_STARTED)) < 0)
        goto done;
    if (!flag) {
        result = 1;
        goto done;
    }
    if ((flag = truthy_slot(subscription, SUBSCRIPTION_CLOSED)) < 0)
        goto done;
    if (flag) {
        result = 1;
        goto done;
    }
    if ((flag = truthy_slot(subscription, SUBSCRIPTION_WANTED)) < 0)
        goto done;
    if (!flag) {
        result = 1;
        goto done;
    }
    /* What Python decides: a keyframe to wait for or catch up with, a payload
     * type not yet worked out, a run to begin, a route to make, a new source. */
    if ((flag = truthy_slot(subscription, SUBSCRIPTION_WAITING)) < 0)
        goto done;
    if (flag) {
        result = 0;
        goto done;
    }
    PyObject *payload_types = get(subscription, SUBSCRIPTION_PAYLOAD_TYPES);
    if (payload_types == NULL)
        goto done;
    PyObject *outgoing = PyDict_Check(payload_types)
                             ? PyDict_GetItemWithError(payload_types, packet->payload_type)
                             : NULL;
    long payload_type = -1;
    if (outgoing != NULL && outgoing != Py_None)
        payload_type = PyLong_AsLong(outgoing);
    int none_type = outgoing == Py_None;
    Py_DECREF(payload_types);
    if (PyErr_Occurred())
        goto done;
    if (none_type) { /* the subscriber cannot take this codec */
        result = 1;
        goto done;
    }
    if (payload_type < 0 || payload_type > 127) {
        result = 0;
        goto done;
    }
    munger = get(subscription, SUBSCRIPTION_MUNGER);
    if (munger == NULL)
        goto done;
    if ((flag = truthy_slot(munger, MUNGER_RESYNC)) < 0)
        goto done;
    if (flag) {
        result = 0;
        goto done;
    }
    route = get(state, STATE_ROUTE);
    if (route == NULL)
        goto done;
    writer = get(state, STATE_WRITER);
    if (writer == NULL)
        goto done;
    if (route == Py_None || writer == Py_None) {
        result = 0;
        goto done;
    }
    if ((flag = usable_route(route)) <= 0) {
        result = flag;
        goto done;
    }
    long fd, srtp_handle;
    if (long_slot(route, ROUTE_FD, &fd, &is_none) < 0)
        goto done;
    if (is_none || fd < 0) {
        result = 0;
        goto done;
    }
    if (long_slot(route, ROUTE_SRTP_HANDLE, &srtp_handle, &is_none) < 0)
        goto done;
    sockaddr = get(route, ROUTE_SOCKADDR);
    if (sockaddr == NULL)
        goto done;
    if (is_none || srtp_handle == 0 || !PyBytes_Check(sockaddr) || PyBytes_GET_SIZE(sockaddr) == 0) {
        result = 0;
        goto done;
    }
    if (packet->has_picture_id) {
        picture_ids = get(subscription, SUBSCRIPTION_PICTURE_IDS);
        if (picture_ids == NULL)
            goto done;
        if ((flag = truthy_slot(picture_ids, PICTURE_NEW_SOURCE)) < 0)
            goto done;
        if (flag) {
            result = 0;
            goto done;
        }
    }

    /* Munger.rewrite, in the middle of a run. */
    long highest = 0, seq_offset = 0, ts_offset = 0, run_start = 0;
    int highest_none, run_start_none;
    if (long_slot(munger, MUNGER_HIGHEST, &highest, &highest_none) < 0)
        goto done;
    if (long_slot(munger, MUNGER_SEQ_OFFSET, &seq_offset, &is_none) < 0 || is_none)
        goto wrong_type;
    if (long_slot(munger, MUNGER_TS_OFFSET, &value, &is_none) < 0 || is_none)
        goto wrong_type;
    ts_offset = value;
    if (long_slot(munger, MUNGER_RUN_START, &run_start, &run_start_none) < 0)
        goto done;
    long out_seq = (packet->seq + seq_offset) % SEQ_MOD;
    unsigned long out_ts = (packet->timestamp + (unsigned long)ts_offset) & 0xFFFFFFFFUL;
    long ahead = ((packet->seq - highest) % SEQ_MOD + SEQ_MOD) % SEQ_MOD;
    if (!highest_none && !(0 < ahead && ahead < HALF_SEQ)) {
        /* A late packet of this run, unless it is from before the run began. */
        long behind = ((run_start - out_seq) % SEQ_MOD + SEQ_MOD) % SEQ_MOD;
        if (!run_start_none && run_start != out_seq && behind < HALF_SEQ) {
            result = 1;
            goto done;
        }
    } else {
        if (set_long_slot(munger, MUNGER_HIGHEST, packet->seq) < 0 ||
            set_long_slot(munger, MUNGER_LAST_SEQ, out_seq) < 0 ||
            set_long_slot(munger, MUNGER_LAST_TS, (long)out_ts) < 0)
            goto done;
        if (set(munger, MUNGER_LAST_TIME, now_object) < 0)
            goto done;
    }

    /* The header, then the payload with the PictureID continued. */
    Py_ssize_t header_length = write_header(writer, packet, payload_type, out_seq, out_ts, buffer);
    if (header_length < 0)
        goto wrong_type;
    if (header_length + packet->payload_length > BUFFER_SIZE - SRTP_ROOM) {
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        goto done;
    }
    unsigned char *payload = buffer + header_length;
    memcpy(payload, packet->payload, (size_t)packet->payload_length);
    if (packet->has_picture_id) {
        /* PictureIdMunger.rewrite_at, within one source. */
        Py_ssize_t position = packet->picture_position;
        int wide = packet->picture_bits == 15;
        long modulus = wide ? 32768 : 128;
        if (position < 0 || position + (wide ? 2 : 1) > packet->payload_length) {
            PyErr_SetString(PyExc_IndexError, "PictureID beyond the payload");
            goto done;
        }
        long picture = wide ? ((payload[position] & 0x7F) << 8 | payload[position + 1])
                            : (payload[position] & 0x7F);
        long offset, last_out = 0;
        int last_none;
        if (long_slot(picture_ids, PICTURE_OFFSET, &offset, &is_none) < 0 || is_none)
            goto wrong_type;
        if (long_slot(picture_ids, PICTURE_LAST_OUT, &last_out, &last_none) < 0)
            goto done;
        long out = offset ? (((picture + offset) % modulus) + modulus) % modulus : picture;
        long step = ((out - last_out) % modulus + modulus) % modulus;
        if (last_none || (0 < step && step < modulus / 2)) {
            if (set_long_slot(picture_ids, PICTURE_LAST_OUT, out) < 0)
                goto done;
        }
        if (offset) {
            if (wide) {
                payload[position] = (unsigned char)(0x80 | (out >> 8));
                payload[position + 1] = (unsigned char)out;
            } else {
                payload[position] = (unsigned char)out;
            }
        }
    }

    int length = (int)(header_length + packet->payload_length);
    if (srtp_protect((void *)(uintptr_t)srtp_handle, buffer, &length) != srtp_ok) {
        PyErr_SetString(srtp_error, "srtp_protect failed");
        goto done;
    }
    if (send_copy(route, length, fd, sockaddr, transports) < 0)
        goto done;
    if (add_to(state, STATE_PACKETS, 1) < 0 ||
        add_to(state, STATE_OCTETS, packet->payload_length) < 0)
        goto done;
    result = 1;
    goto done;
wrong_type:
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "unexpected forwarding state");
done:
    Py_XDECREF(state);
    Py_XDECREF(munger);
    Py_XDECREF(route);
    Py_XDECREF(writer);
    Py_XDECREF(sockaddr);
    Py_XDECREF(picture_ids);
    return result;
}

static PyObject *forward_copies(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "forward_copies(subscriptions, forwarded, now)");
        return NULL;
    }
    PyObject *subscriptions = args[0], *forwarded = args[1], *now_object = args[2];
    if (!PyList_Check(subscriptions)) {
        PyErr_SetString(PyExc_TypeError, "subscriptions must be a list");
        return NULL;
    }
    if (srtp_protect == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    Packet packet;
    int compiled = read_packet(forwarded, &packet) == 0;
    TransportState transports = {NULL, 0};
    int failed = 0;
    /* As Python's for loop over the list: forward() never awaits, and the list
     * is read afresh at each step. */
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(subscriptions); index++) {
        PyObject *subscription = PyList_GET_ITEM(subscriptions, index);
        Py_INCREF(subscription);
        int made = compiled && (PyObject *)Py_TYPE(subscription) == subscription_type
                       ? copy_one(subscription, &packet, now_object, &transports)
                       : 0;
        if (made == 0) {
            made = call_forward(subscription, forwarded, now_object);
            /* It may have sent through a transport: ask again before the next. */
            transports.transport = NULL;
        }
        Py_DECREF(subscription);
        if (made < 0) {
            failed = 1;
            break;
        }
    }
    release_packet(&packet);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

/* -- The receive step: a publisher's SRTP datagram, up to its receiver ---------
 *
 * direct_receive.py's handler for one RTP datagram, for the usual case: unprotect
 * (libsrtp's srtp_unprotect), a source already known, the connection's budget
 * (incoming_budget.py), the RTP header (rtp_parse.py), aiortc's router when the
 * SSRC and payload type are registered, and the delivery to the receiver. Every
 * other case goes to the Python functions that direct_receive.install keeps in
 * the same state object, which stay the reference (tests/unit/test_rtp_parse.py
 * and tests/media/test_direct_receive.py compare the two). */

#define NTP_TO_UNIX_MS 2208988800000LL
#define FIXED_HEADER_LENGTH 12
#define ONE_BYTE_PROFILE 0xBEDE
#define TWO_BYTE_PROFILE 0x1000
#define SRTP_SESSION_BUFFER 1500 /* pylibsrtp's buffer: longer ones are refused */

static srtp_protect_function srtp_unprotect = NULL;
static PyObject *rtp_packet_type = NULL;     /* aiortc.rtp.RtpPacket */
static PyObject *extensions_type = NULL;     /* aiortc.rtp.HeaderExtensions */
static PyObject *empty_tuple = NULL;
static unsigned char receive_buffer[BUFFER_SIZE];

static double clock_seconds(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* An object as object.__new__(type) makes it (RtpPacket.__new__ is object's). */
static PyObject *new_object(PyObject *type) {
    return PyBaseObject_Type.tp_new((PyTypeObject *)type, empty_tuple, NULL);
}

static int set_new(PyObject *object, PyObject *name, PyObject *value) {
    if (value == NULL)
        return -1;
    int result = PyObject_SetAttr(object, name, value);
    Py_DECREF(value);
    return result;
}

static PyObject *value_error(const char *message) {
    PyErr_SetString(PyExc_ValueError, message);
    return NULL;
}

/* The id an extension was negotiated as (ids' attribute), -1 for None. */
static int negotiated_id(PyObject *ids, PyObject *name, long *id) {
    int is_none;
    if (long_attribute(ids, name, id, &is_none) < 0)
        return -1;
    if (is_none)
        *id = -1;
    return 0;
}

/* Whether an extension's value is not of the length its kind has (then
 * ValueError, as in rtp_parse). */
static int wrong_length(Py_ssize_t length, Py_ssize_t expected, const char *kind) {
    if (length == expected)
        return 0;
    PyErr_Format(PyExc_ValueError, "RTP %s header extension of %zd bytes", kind, length);
    return 1;
}

/* rtp_parse._read_extensions: the elements of an RFC 8285 block that `ids`
 * names, set on `extensions`. */
static int read_extensions(const unsigned char *data, Py_ssize_t position, Py_ssize_t end,
                           int one_byte, PyObject *ids, PyObject *extensions) {
    long mid, repaired, stream, time_id, offset, level, transport;
    if (negotiated_id(ids, name_mid, &mid) < 0 ||
        negotiated_id(ids, name_repaired_rtp_stream_id, &repaired) < 0 ||
        negotiated_id(ids, name_rtp_stream_id, &stream) < 0 ||
        negotiated_id(ids, name_abs_send_time, &time_id) < 0 ||
        negotiated_id(ids, name_transmission_offset, &offset) < 0 ||
        negotiated_id(ids, name_audio_level, &level) < 0 ||
        negotiated_id(ids, name_transport_sequence_number, &transport) < 0)
        return -1;
    while (position < end) {
        unsigned char byte = data[position];
        if (byte == 0) { /* padding */
            position += 1;
            continue;
        }
        long element_id;
        Py_ssize_t length;
        if (one_byte) {
            element_id = byte >> 4;
            length = (byte & 0x0F) + 1;
            position += 1;
        } else {
            if (end < position + 2) {
                value_error("RTP two-byte header extension is truncated");
                return -1;
            }
            element_id = byte;
            length = data[position + 1];
            position += 2;
        }
        Py_ssize_t value_end = position + length;
        if (end < value_end) {
            value_error("RTP header extension value is truncated");
            return -1;
        }
        const unsigned char *value = data + position;
        int failed = 0;
        /* In rtp_parse's order: an id negotiated for two extensions counts as the first. */
        if (element_id == mid) {
            failed = set_new(extensions, name_mid,
                             PyUnicode_DecodeUTF8((const char *)value, length, NULL));
        } else if (element_id == repaired) {
            failed = set_new(extensions, name_repaired_rtp_stream_id,
                             PyUnicode_DecodeASCII((const char *)value, length, NULL));
        } else if (element_id == stream) {
            failed = set_new(extensions, name_rtp_stream_id,
                             PyUnicode_DecodeASCII((const char *)value, length, NULL));
        } else if (element_id == time_id) {
            if (wrong_length(length, 3, "abs-send-time"))
                return -1;
            failed = set_new(extensions, name_abs_send_time,
                             PyLong_FromUnsignedLong((unsigned long)value[0] << 16 |
                                                     (unsigned long)value[1] << 8 | value[2]));
        } else if (element_id == offset) {
            if (wrong_length(length, 3, "transmission offset"))
                return -1;
            long number = (long)value[0] << 16 | (long)value[1] << 8 | value[2];
            if (number & 0x800000)
                number -= 0x1000000;
            failed = set_new(extensions, name_transmission_offset, PyLong_FromLong(number));
        } else if (element_id == level) {
            if (wrong_length(length, 1, "audio level"))
                return -1;
            failed = set_new(extensions, name_audio_level,
                             Py_BuildValue("(Ni)", PyBool_FromLong(value[0] & 0x80),
                                           value[0] & 0x7F));
        } else if (element_id == transport) {
            if (wrong_length(length, 2, "transport-wide sequence number"))
                return -1;
            failed = set_new(extensions, name_transport_sequence_number,
                             PyLong_FromLong((long)value[0] << 8 | value[1]));
        }
        if (failed < 0)
            return -1;
        position = value_end;
    }
    return 0;
}

/* rtp_parse.parse_rtp over `size` bytes of `data`: the RtpPacket, or NULL and
 * ValueError for anything malformed. */
static PyObject *read_rtp(const unsigned char *data, Py_ssize_t size, PyObject *ids) {
    if (size < FIXED_HEADER_LENGTH)
        return value_error("RTP packet length is less than 12 bytes");
    unsigned char first = data[0], second = data[1];
    if (first >> 6 != 2)
        return value_error("RTP packet has invalid version");
    int csrc_count = first & 0x0F;
    Py_ssize_t position = FIXED_HEADER_LENGTH + 4 * csrc_count;
    if (size < position)
        return value_error("RTP packet has truncated CSRC");
    PyObject *packet = new_object(rtp_packet_type);
    if (packet == NULL)
        return NULL;
    PyObject *csrc = NULL;
    if (set_new(packet, name_version, PyLong_FromLong(2)) < 0 ||
        set_new(packet, name_marker, PyLong_FromLong(second >> 7)) < 0 ||
        set_new(packet, name_payload_type, PyLong_FromLong(second & 0x7F)) < 0 ||
        set_new(packet, name_sequence_number,
                PyLong_FromLong((long)data[2] << 8 | data[3])) < 0 ||
        set_new(packet, name_timestamp,
                PyLong_FromUnsignedLong((unsigned long)data[4] << 24 |
                                        (unsigned long)data[5] << 16 |
                                        (unsigned long)data[6] << 8 | data[7])) < 0 ||
        set_new(packet, name_ssrc,
                PyLong_FromUnsignedLong((unsigned long)data[8] << 24 |
                                        (unsigned long)data[9] << 16 |
                                        (unsigned long)data[10] << 8 | data[11])) < 0)
        goto failed;
    csrc = PyList_New(csrc_count);
    if (csrc == NULL)
        goto failed;
    for (int index = 0; index < csrc_count; index++) {
        const unsigned char *word = data + FIXED_HEADER_LENGTH + 4 * index;
        PyObject *number = PyLong_FromUnsignedLong(
            (unsigned long)word[0] << 24 | (unsigned long)word[1] << 16 |
            (unsigned long)word[2] << 8 | word[3]);
        if (number == NULL)
            goto failed;
        PyList_SET_ITEM(csrc, index, number);
    }
    if (set_new(packet, name_csrc, csrc) < 0) {
        csrc = NULL;
        goto failed;
    }
    csrc = NULL;
    PyObject *extensions = new_object(extensions_type);
    if (set_new(packet, name_extensions, Py_XNewRef(extensions)) < 0) {
        Py_XDECREF(extensions);
        goto failed;
    }
    if (first & 0x10) {
        if (size < position + 4) {
            Py_DECREF(extensions);
            value_error("RTP packet has truncated extension profile / length");
            goto failed;
        }
        long profile = (long)data[position] << 8 | data[position + 1];
        Py_ssize_t words = (Py_ssize_t)data[position + 2] << 8 | data[position + 3];
        position += 4;
        Py_ssize_t end = position + 4 * words;
        if (size < end) {
            Py_DECREF(extensions);
            value_error("RTP packet has truncated extension value");
            goto failed;
        }
        if ((profile == ONE_BYTE_PROFILE || profile == TWO_BYTE_PROFILE) &&
            read_extensions(data, position, end, profile == ONE_BYTE_PROFILE, ids, extensions) <
                0) {
            Py_DECREF(extensions);
            goto failed;
        }
        position = end;
    }
    Py_DECREF(extensions);
    Py_ssize_t padding = 0;
    if (first & 0x20) {
        padding = data[size - 1];
        if (padding == 0 || padding > size - position) {
            value_error("RTP packet padding length is invalid");
            goto failed;
        }
    }
    if (set_new(packet, name_padding_size, PyLong_FromSsize_t(padding)) < 0 ||
        set_new(packet, name_payload,
                PyBytes_FromStringAndSize((const char *)data + position,
                                          size - padding - position)) < 0)
        goto failed;
    return packet;
failed:
    Py_XDECREF(csrc);
    Py_DECREF(packet);
    return NULL;
}

static PyObject *parse_rtp(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "parse_rtp(data: bytes, ids)");
        return NULL;
    }
    if (rtp_packet_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure_receive() first");
        return NULL;
    }
    return read_rtp((const unsigned char *)PyBytes_AS_STRING(args[0]),
                    PyBytes_GET_SIZE(args[0]), args[1]);
}

static int double_slot(PyObject *object, int slot, double *result) {
    PyObject *value = get(object, slot);
    if (value == NULL)
        return -1;
    *result = PyFloat_AsDouble(value);
    Py_DECREF(value);
    return *result == -1.0 && PyErr_Occurred() ? -1 : 0;
}

static int set_double_slot(PyObject *object, int slot, double value) {
    return set_new_slot(object, slot, PyFloat_FromDouble(value));
}

/* IncomingBudget.allows for a datagram it allows: 1 and the datagram taken from
 * the budget; 0 when it would refuse it, with the budget untouched (its Python
 * allows() then refuses, counts and warns); -1 on error. */
static int budget_takes(PyObject *budget, Py_ssize_t size, double now) {
    double bytes_rate, datagrams_rate, bytes, datagrams;
    PyObject *at_object = get(budget, BUDGET_AT);
    if (at_object == NULL)
        return -1;
    int fresh = at_object == Py_None;
    double at = fresh ? 0.0 : PyFloat_AsDouble(at_object);
    Py_DECREF(at_object);
    if (at == -1.0 && PyErr_Occurred())
        return -1;
    if (double_slot(budget, BUDGET_BYTES, &bytes) < 0 ||
        double_slot(budget, BUDGET_DATAGRAMS, &datagrams) < 0)
        return -1;
    if (!fresh && now > at) {
        double elapsed = now - at;
        if (double_slot(budget, BUDGET_BYTES_RATE, &bytes_rate) < 0 ||
            double_slot(budget, BUDGET_DATAGRAMS_RATE, &datagrams_rate) < 0)
            return -1;
        /* min(rate, ...) as Python's min: the first of two equal values. */
        double refilled = bytes + elapsed * bytes_rate;
        bytes = refilled < bytes_rate ? refilled : bytes_rate;
        refilled = datagrams + elapsed * datagrams_rate;
        datagrams = refilled < datagrams_rate ? refilled : datagrams_rate;
    }
    if (bytes < (double)size || datagrams < 1.0)
        return 0;
    if (set_double_slot(budget, BUDGET_AT, now) < 0 ||
        set_double_slot(budget, BUDGET_BYTES, bytes - (double)size) < 0 ||
        set_double_slot(budget, BUDGET_DATAGRAMS, datagrams - 1.0) < 0)
        return -1;
    return 1;
}

/* budget_takes(budget, size, now), for the tests: True, False (untouched) or
 * None when the budget is not an IncomingBudget whose slots are read here. */
static PyObject *budget_step(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *budget;
    Py_ssize_t size;
    double now;
    if (!PyArg_ParseTuple(args, "Ond", &budget, &size, &now))
        return NULL;
    if (slots[BUDGET_AT].type == NULL || Py_TYPE(budget) != slots[BUDGET_AT].type)
        Py_RETURN_NONE;
    int taken = budget_takes(budget, size, now);
    if (taken < 0)
        return NULL;
    return PyBool_FromLong(taken);
}

/* Call `slot`'s function of the receive state with `count` arguments. */
static PyObject *call_state(PyObject *state, int slot, PyObject **args, size_t count) {
    PyObject *function = get(state, slot);
    if (function == NULL)
        return NULL;
    PyObject *result = PyObject_Vectorcall(function, args, count, NULL);
    Py_DECREF(function);
    return result;
}

/* A datagram the Python handler takes whole. */
static PyObject *python_handles(PyObject *state, PyObject *data) {
    return call_state(state, RECEIVE_HANDLE, &data, 1);
}

/* The receiver aiortc's router routes `packet` to when its SSRC and payload type
 * are registered to the same receiver (borrowed); NULL (no error) otherwise. */
static PyObject *registered_receiver(PyObject *state, PyObject *ssrc, PyObject *payload_type) {
    PyObject *ssrc_table = get(state, RECEIVE_SSRC_TABLE);
    PyObject *type_table = get(state, RECEIVE_PAYLOAD_TYPE_TABLE);
    PyObject *found = NULL;
    if (ssrc_table != NULL && type_table != NULL && PyDict_CheckExact(ssrc_table) &&
        PyDict_CheckExact(type_table)) {
        PyObject *receiver = PyDict_GetItemWithError(ssrc_table, ssrc);
        PyObject *receivers =
            receiver == NULL ? NULL : PyDict_GetItemWithError(type_table, payload_type);
        if (receivers != NULL && PyAnySet_Check(receivers) &&
            PySet_Contains(receivers, receiver) == 1)
            found = receiver;
    }
    Py_XDECREF(ssrc_table);
    Py_XDECREF(type_table);
    PyErr_Clear();
    return found;
}

/* -- The publication's step: Publication.on_rtp's usual case ------------------
 *
 * For a packet of the publication's current source, with statistics already
 * started, a payload, and for video the next sequence number after the highest
 * (no gap: nothing to ask for), a VP8 payload and the fan-out queue in place:
 * aiortc's receive statistics, the bitrate estimator (its step below), the
 * NACK window's highest number, the keyframe check, the ForwardedPacket, the
 * ring, and the fan-out queue (video) or the copies (audio). All of it is
 * checked before anything is written: any other packet goes to the Python
 * on_rtp, which stays the reference (tests/media/test_publication_step.py). */

static PyObject *publication_type = NULL;        /* publication.Publication */
static PyObject *forwarding_receiver_type = NULL; /* endpoints.ForwardingReceiver */
static PyObject *forwarded_type = NULL;          /* publication.ForwardedPacket */
static Py_ssize_t fan_out_limit = 0;             /* fan_out.LIMIT */
static PyObject *estimator_keywords = NULL;      /* ("abs_send_time", ...) */

/* An attribute as a long long; *is_none for None. -1 and an exception for others. */
static int long_long_attribute(PyObject *object, PyObject *name, long long *result,
                               int *is_none) {
    PyObject *value = PyObject_GetAttr(object, name);
    if (value == NULL)
        return -1;
    *is_none = value == Py_None;
    *result = *is_none ? 0 : PyLong_AsLongLong(value);
    Py_DECREF(value);
    return *result == -1 && PyErr_Occurred() ? -1 : 0;
}

static int set_long_long(PyObject *object, PyObject *name, long long value) {
    return set_new(object, name, PyLong_FromLongLong(value));
}

/* keyframe.vp8_starts_keyframe. */
static int vp8_starts_keyframe(const unsigned char *payload, Py_ssize_t length) {
    if (length < 2 || !(payload[0] & 0x10) || (payload[0] & 0x07) != 0)
        return 0;
    Py_ssize_t offset = 1;
    if (payload[0] & 0x80) {
        unsigned char extended = payload[1];
        offset = 2;
        if (extended & 0x80) {
            if (length <= offset)
                return 0;
            offset += payload[offset] & 0x80 ? 2 : 1;
        }
        if (extended & 0x40)
            offset += 1;
        if (extended & 0x30)
            offset += 1;
    }
    if (length <= offset)
        return 0;
    return (payload[offset] & 0x01) == 0;
}

/* keyframe.vp8_picture_id: a new (offset, bits) tuple, or None. */
static PyObject *vp8_picture_id(const unsigned char *payload, Py_ssize_t length) {
    if (length < 3 || !(payload[0] & 0x80) || !(payload[1] & 0x80))
        Py_RETURN_NONE;
    if (payload[2] & 0x80) {
        if (length < 4)
            Py_RETURN_NONE;
        return Py_BuildValue("(ii)", 2, 15);
    }
    return Py_BuildValue("(ii)", 2, 7);
}

/* The references publication_takes holds. */
typedef struct {
    PyObject *payload_type, *codecs, *codec, *stats, *ssrc, *media_ssrc, *payload, *extensions;
    PyObject *nack, *vp8_types, *buffer, *fan_out, *estimator, *seq, *timestamp, *marker;
    PyObject *abs_send_time, *audio_level, *now, *forwarded, *picture_id_at;
} Step;

static void release_step(Step *step) {
    PyObject **references = (PyObject **)step;
    for (size_t index = 0; index < sizeof(Step) / sizeof(PyObject *); index++)
        Py_CLEAR(references[index]);
}

/* aiortc's StreamStatistics.add, for statistics past their first packet
 * (0: not so, nothing written). */
static int add_to_statistics(PyObject *stats, long long seq, long long timestamp, double wall) {
    long long base, highest, cycles, received, clockrate, jitter, last_arrival, last_timestamp;
    int none[8];
    if (long_long_attribute(stats, name_base_seq, &base, &none[0]) < 0 ||
        long_long_attribute(stats, name_max_seq, &highest, &none[1]) < 0 ||
        long_long_attribute(stats, name_cycles, &cycles, &none[2]) < 0 ||
        long_long_attribute(stats, name_packets_received, &received, &none[3]) < 0 ||
        long_long_attribute(stats, name__clockrate, &clockrate, &none[4]) < 0 ||
        long_long_attribute(stats, name__jitter_q4, &jitter, &none[5]) < 0 ||
        long_long_attribute(stats, name__last_arrival, &last_arrival, &none[6]) < 0 ||
        long_long_attribute(stats, name__last_timestamp, &last_timestamp, &none[7]) < 0)
        return -1;
    for (int index = 0; index < 8; index++)
        if (none[index])
            return 0;
    /* aiortc's uint16_gt(seq, max_seq). */
    int in_order = (seq < highest && highest - seq > HALF_SEQ) ||
                   (seq > highest && seq - highest < HALF_SEQ);
    received += 1;
    if (set_long_long(stats, name_packets_received, received) < 0)
        return -1;
    if (!in_order)
        return 1;
    long long arrival = (long long)(wall * (double)clockrate);
    if (seq < highest && set_long_long(stats, name_cycles, cycles + SEQ_MOD) < 0)
        return -1;
    if (set_long_long(stats, name_max_seq, seq) < 0)
        return -1;
    if (timestamp != last_timestamp && received > 1) {
        long long difference = (arrival - last_arrival) - (timestamp - last_timestamp);
        if (difference < 0)
            difference = -difference;
        jitter += difference - ((jitter + 8) >> 4);
        if (set_long_long(stats, name__jitter_q4, jitter) < 0)
            return -1;
    }
    if (set_long_long(stats, name__last_arrival, arrival) < 0 ||
        set_long_long(stats, name__last_timestamp, timestamp) < 0)
        return -1;
    return 1;
}

/* -- The bitrate estimator's step for each packet -----------------------------
 *
 * bandwidth.LeanBitrateEstimator.add for a LeanBitrateEstimator: its
 * count_and_group (the packet counted in the incoming rate's buckets and in its
 * group of send times) and update_due, on the same Python state; only when a
 * group ended or the rate control is due does it call the Python
 * after_grouping (about once a frame). Python's arithmetic is kept: ints are
 * Python ints (a modulo never negative), round() of a float goes to even. Any
 * other estimator gets its own `add`. */

static PyObject *estimator_type = NULL;       /* bandwidth.LeanBitrateEstimator */
static PyObject *timestamp_group_type = NULL; /* aiortc.rate.TimestampGroup */
static PyObject *overusing = NULL;            /* aiortc.rate.BandwidthUsage.OVERUSING */
static long long burst_delta_threshold_ms = 0;
static PyObject *zero = NULL;

/* An int attribute that must not be None. */
static int required_long_long(PyObject *object, PyObject *name, long long *result) {
    int is_none = 0;
    if (long_long_attribute(object, name, result, &is_none) < 0)
        return -1;
    if (is_none) {
        PyErr_Format(PyExc_TypeError, "%U is None", name);
        return -1;
    }
    return 0;
}

/* Python's a % b for b > 0. */
static long long python_modulo(long long a, long long b) {
    long long result = a % b;
    return result < 0 ? result + b : result;
}

/* A list attribute of the counter, a new reference, `size` long. */
static PyObject *bucket_list(PyObject *counter, PyObject *name, long long size) {
    PyObject *list = PyObject_GetAttr(counter, name);
    if (list != NULL && (!PyList_CheckExact(list) || PyList_GET_SIZE(list) != size)) {
        Py_DECREF(list);
        PyErr_Format(PyExc_TypeError, "%U is not a list of the window's size", name);
        return NULL;
    }
    return list;
}

/* Empty the buckets [begin, stop) of `list`, adding up what they held. */
static int empty_buckets(PyObject *list, long long begin, long long stop, long long *sum) {
    for (Py_ssize_t index = (Py_ssize_t)begin; index < (Py_ssize_t)stop; index++) {
        PyObject *item = PyList_GET_ITEM(list, index);
        long long value = PyLong_AsLongLong(item);
        if (value == -1 && PyErr_Occurred())
            return -1;
        *sum += value;
        PyList_SET_ITEM(list, index, Py_NewRef(zero));
        Py_DECREF(item);
    }
    return 0;
}

/* LeanRateCounter._erase_old(now_ms), for a counter whose origin is `origin_ms`. */
static int erase_old(PyObject *counter, long long now_ms, long long window, long long origin_ms) {
    long long leaving = now_ms - window + 1 - origin_ms;
    if (leaving <= 0)
        return 0;
    long long start, total_count, total_value, counted = 0, valued = 0;
    if (required_long_long(counter, name__origin_index, &start) < 0 ||
        required_long_long(counter, name__total_count, &total_count) < 0 ||
        required_long_long(counter, name__total_value, &total_value) < 0)
        return -1;
    PyObject *counts = bucket_list(counter, name__counts, window);
    PyObject *values = counts ? bucket_list(counter, name__values, window) : NULL;
    int result = -1;
    if (values == NULL)
        goto done;
    if (leaving >= window) {
        if (empty_buckets(counts, 0, window, &counted) < 0 ||
            empty_buckets(values, 0, window, &valued) < 0)
            goto done;
        total_count = 0;
        total_value = 0;
    } else {
        long long end = start + leaving;
        long long spans[2][2] = {{start, end < window ? end : window}, {0, end - window}};
        for (int span = 0; span < 2; span++) {
            if (spans[span][1] > spans[span][0] &&
                (empty_buckets(counts, spans[span][0], spans[span][1], &counted) < 0 ||
                 empty_buckets(values, spans[span][0], spans[span][1], &valued) < 0))
                goto done;
        }
        total_count -= counted;
        total_value -= valued;
    }
    if (set_long_long(counter, name__total_count, total_count) < 0 ||
        set_long_long(counter, name__total_value, total_value) < 0 ||
        set_long_long(counter, name__origin_index, python_modulo(start + leaving, window)) < 0 ||
        set_long_long(counter, name__origin_ms, origin_ms + leaving) < 0)
        goto done;
    result = 0;
done:
    Py_XDECREF(counts);
    Py_XDECREF(values);
    return result;
}

/* list[index] += amount, for a list of ints. */
static int add_to_item(PyObject *list, Py_ssize_t index, long long amount) {
    PyObject *item = PyList_GET_ITEM(list, index);
    long long value = PyLong_AsLongLong(item);
    if (value == -1 && PyErr_Occurred())
        return -1;
    PyObject *sum = PyLong_FromLongLong(value + amount);
    if (sum == NULL)
        return -1;
    PyList_SET_ITEM(list, index, sum);
    Py_DECREF(item);
    return 0;
}

/* count_and_group's incoming rate. */
static int count_packet(PyObject *estimator, long long arrival, long long size) {
    PyObject *counter = PyObject_GetAttr(estimator, name_incoming_bitrate);
    if (counter == NULL)
        return -1;
    int result = -1;
    PyObject *counts = NULL, *values = NULL;
    long long origin = 0, window, total_count, total_value, origin_index;
    int no_origin = 0;
    if (long_long_attribute(counter, name__origin_ms, &origin, &no_origin) < 0 ||
        required_long_long(counter, name__window_size, &window) < 0)
        goto done;
    if (window <= 0) {
        PyErr_SetString(PyExc_ValueError, "the rate's window is empty");
        goto done;
    }
    int has_rate = 0;
    if (!no_origin) {
        if (arrival - window + 1 > origin) {
            if (erase_old(counter, arrival, window, origin) < 0)
                goto done;
            origin = arrival - window + 1;
        }
        if (required_long_long(counter, name__total_count, &total_count) < 0)
            goto done;
        has_rate = total_count > 0 && arrival > origin;
    }
    if (has_rate) {
        if (PyObject_SetAttr(estimator, name_incoming_bitrate_initialized, Py_True) < 0)
            goto done;
    } else {
        int was = truth_of(PyObject_GetAttr(estimator, name_incoming_bitrate_initialized));
        if (was < 0)
            goto done;
        if (was) {
            PyObject *reset = PyObject_CallMethodNoArgs(counter, name_reset);
            if (reset == NULL)
                goto done;
            Py_DECREF(reset);
            if (PyObject_SetAttr(estimator, name_incoming_bitrate_initialized, Py_False) < 0)
                goto done;
            no_origin = 1;
        }
    }
    if (no_origin) {
        origin = arrival;
        if (set_long_long(counter, name__origin_ms, origin) < 0)
            goto done;
    }
    if (required_long_long(counter, name__origin_index, &origin_index) < 0 ||
        required_long_long(counter, name__total_count, &total_count) < 0 ||
        required_long_long(counter, name__total_value, &total_value) < 0)
        goto done;
    Py_ssize_t index = (Py_ssize_t)python_modulo(origin_index + arrival - origin, window);
    counts = bucket_list(counter, name__counts, window);
    values = counts ? bucket_list(counter, name__values, window) : NULL;
    if (values == NULL || add_to_item(counts, index, 1) < 0 ||
        add_to_item(values, index, size) < 0 ||
        set_long_long(counter, name__total_count, total_count + 1) < 0 ||
        set_long_long(counter, name__total_value, total_value + size) < 0)
        goto done;
    result = 0;
done:
    Py_XDECREF(counts);
    Py_XDECREF(values);
    Py_DECREF(counter);
    return result;
}

/* A new TimestampGroup(timestamp), made the inter-arrival's current group. */
static PyObject *new_group(PyObject *arrival, long long timestamp) {
    PyObject *stamp = PyLong_FromLongLong(timestamp);
    if (stamp == NULL)
        return NULL;
    PyObject *group = PyObject_CallOneArg(timestamp_group_type, stamp);
    Py_DECREF(stamp);
    if (group != NULL && PyObject_SetAttr(arrival, name_current_group, group) < 0)
        Py_CLEAR(group);
    return group;
}

/* count_and_group's groups: the deltas (a new tuple) or None (a new reference). */
static PyObject *group_packet(PyObject *estimator, long long arrival_ms, long long timestamp,
                              long long size) {
    PyObject *arrival = PyObject_GetAttr(estimator, name_inter_arrival);
    if (arrival == NULL)
        return NULL;
    PyObject *deltas = Py_NewRef(Py_None);
    PyObject *previous = NULL;
    PyObject *group = PyObject_GetAttr(arrival, name_current_group);
    if (group == NULL)
        goto fail;
    if (group == Py_None) {
        Py_SETREF(group, new_group(arrival, timestamp));
        if (group == NULL)
            goto fail;
    } else {
        long long first, last, arrived;
        if (required_long_long(group, name_first_timestamp, &first) < 0 ||
            required_long_long(group, name_last_timestamp, &last) < 0 ||
            required_long_long(group, name_arrival_time, &arrived) < 0)
            goto fail;
        long long since_first = (timestamp - first) & 0xFFFFFFFFLL;
        long long since_last = (timestamp - last) & 0xFFFFFFFFLL;
        if (since_first >= 0x80000000LL) {
            Py_CLEAR(group); /* out of order: counted in no group */
        } else {
            PyObject *to_ms = PyObject_GetAttr(arrival, name_timestamp_to_ms);
            double factor = to_ms ? PyFloat_AsDouble(to_ms) : -1.0;
            Py_XDECREF(to_ms);
            long long group_length;
            if ((factor == -1.0 && PyErr_Occurred()) ||
                required_long_long(arrival, name_group_length, &group_length) < 0)
                goto fail;
            /* round(): to the nearest, a half to even (the default rounding mode). */
            long long since_last_ms = (long long)nearbyint(factor * (double)since_last);
            long long arrived_after = arrival_ms - arrived;
            int in_burst = since_last_ms == 0 || (arrived_after - since_last_ms < 0 &&
                                                  arrived_after <= burst_delta_threshold_ms);
            if (!in_burst && since_first > group_length) {
                previous = PyObject_GetAttr(arrival, name_previous_group);
                if (previous == NULL)
                    goto fail;
                if (previous != Py_None) {
                    long long previous_last, previous_arrived, group_size, previous_size;
                    if (required_long_long(previous, name_last_timestamp, &previous_last) < 0 ||
                        required_long_long(previous, name_arrival_time, &previous_arrived) < 0 ||
                        required_long_long(group, name_size, &group_size) < 0 ||
                        required_long_long(previous, name_size, &previous_size) < 0)
                        goto fail;
                    Py_SETREF(deltas, Py_BuildValue("(LLL)", (last - previous_last) & 0xFFFFFFFFLL,
                                                    arrived - previous_arrived,
                                                    group_size - previous_size));
                    if (deltas == NULL)
                        goto fail;
                }
                if (PyObject_SetAttr(arrival, name_previous_group, group) < 0)
                    goto fail;
                Py_SETREF(group, new_group(arrival, timestamp));
                if (group == NULL)
                    goto fail;
            } else if (0 < since_last && since_last < 0x80000000LL) {
                if (set_long_long(group, name_last_timestamp, timestamp) < 0)
                    goto fail;
            }
        }
    }
    if (group != NULL) {
        long long group_size;
        if (required_long_long(group, name_size, &group_size) < 0 ||
            set_long_long(group, name_size, group_size + size) < 0 ||
            set_long_long(group, name_arrival_time, arrival_ms) < 0)
            goto fail;
    }
    Py_XDECREF(group);
    Py_XDECREF(previous);
    Py_DECREF(arrival);
    return deltas;
fail:
    Py_XDECREF(group);
    Py_XDECREF(previous);
    Py_DECREF(arrival);
    Py_XDECREF(deltas);
    return NULL;
}

/* The filter's step when a group of packets ended (about once a frame): the
 * overuse estimator's Kalman filter (bandwidth.LeanOveruseEstimator.update) and
 * aiortc's OveruseDetector.detect, for exactly those two classes, with
 * Python's float arithmetic in the same order (no fused multiply-add: setup.py
 * builds with -ffp-contract=off; pow and sqrt are libm's, as Python's). Values
 * Python writes as ints (a variance of 1, an overuse time of 0, a threshold
 * at its bounds) are written as ints. */

static PyObject *lean_overuse_estimator_type = NULL; /* bandwidth.LeanOveruseEstimator */
static PyObject *overuse_detector_type = NULL;       /* aiortc.rate.OveruseDetector */
static PyObject *normal_usage = NULL, *underusing = NULL;
static double timestamp_to_ms = 0.0;
static long long delta_counter_max = 0, frame_period_history = 0, min_num_deltas = 0,
                 max_adapt_offset_ms = 0;

static int double_attribute(PyObject *object, PyObject *name, double *result) {
    PyObject *value = PyObject_GetAttr(object, name);
    if (value == NULL)
        return -1;
    *result = PyFloat_AsDouble(value);
    Py_DECREF(value);
    return *result == -1.0 && PyErr_Occurred() ? -1 : 0;
}

static int set_double(PyObject *object, PyObject *name, double value) {
    return set_new(object, name, PyFloat_FromDouble(value));
}

/* A list of two floats' items. */
static int two_floats(PyObject *list, double *first, double *second) {
    if (!PyList_CheckExact(list) || PyList_GET_SIZE(list) != 2) {
        PyErr_SetString(PyExc_TypeError, "expected a list of two floats");
        return -1;
    }
    *first = PyFloat_AsDouble(PyList_GET_ITEM(list, 0));
    *second = PyFloat_AsDouble(PyList_GET_ITEM(list, 1));
    return PyErr_Occurred() ? -1 : 0;
}

static int set_two_floats(PyObject *list, double first, double second) {
    PyObject *a = PyFloat_FromDouble(first);
    PyObject *b = a ? PyFloat_FromDouble(second) : NULL;
    if (b == NULL) {
        Py_XDECREF(a);
        return -1;
    }
    PyList_SetItem(list, 0, a); /* steals, and releases the old item */
    PyList_SetItem(list, 1, b);
    return 0;
}

/* LeanOveruseEstimator.update_min_frame_period(ts_delta) on its deque. */
static int min_frame_period(PyObject *estimator, double ts_delta, double *result) {
    PyObject *history = PyObject_GetAttr(estimator, name__history);
    if (history == NULL)
        return -1;
    int failed = -1;
    Py_ssize_t length = PyObject_Size(history);
    if (length < 0)
        goto done;
    if (length >= frame_period_history) {
        PyObject *gone = PyObject_CallMethodNoArgs(history, name_popleft);
        if (gone == NULL)
            goto done;
        Py_DECREF(gone);
    }
    /* min(history, default=ts_delta): the first of the smallest. */
    int empty = 1;
    double smallest = ts_delta;
    PyObject *iterator = PyObject_GetIter(history);
    if (iterator == NULL)
        goto done;
    PyObject *item;
    while ((item = PyIter_Next(iterator)) != NULL) {
        double value = PyFloat_AsDouble(item);
        Py_DECREF(item);
        if (value == -1.0 && PyErr_Occurred())
            break;
        if (empty || value < smallest)
            smallest = value;
        empty = 0;
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred())
        goto done;
    PyObject *appended = PyFloat_FromDouble(ts_delta);
    if (appended == NULL)
        goto done;
    PyObject *done_append = PyObject_CallMethodOneArg(history, name_append, appended);
    Py_DECREF(appended);
    if (done_append == NULL)
        goto done;
    Py_DECREF(done_append);
    *result = ts_delta < smallest ? ts_delta : smallest;
    failed = 0;
done:
    Py_DECREF(history);
    return failed;
}

/* OveruseEstimator.update_noise_estimate(residual, ts_delta), from the variance
 * *var_noise, which it sets to the new one. */
static int update_noise(PyObject *estimator, double residual, double ts_delta,
                        long long num_of_deltas, double *var_noise) {
    double alpha = num_of_deltas > 10 * 30 ? 0.002 : 0.01;
    double avg_noise;
    if (double_attribute(estimator, name_avg_noise, &avg_noise) < 0)
        return -1;
    double beta = pow(1 - alpha, ts_delta * 30.0 / 1000.0);
    avg_noise = beta * avg_noise + (1 - beta) * residual;
    *var_noise = beta * *var_noise + (1 - beta) * pow(fabs(avg_noise - residual), 2.0);
    if (set_double(estimator, name_avg_noise, avg_noise) < 0)
        return -1;
    if (*var_noise < 1) {
        *var_noise = 1;
        return set_new(estimator, name_var_noise, PyLong_FromLong(1));
    }
    return set_double(estimator, name_var_noise, *var_noise);
}

/* LeanOveruseEstimator.update; its new offset and count of deltas. */
static int kalman_step(PyObject *estimator, long long time_delta_ms, double ts_delta_ms,
                       long long size_delta_int, PyObject *hypothesis, double *offset_out,
                       long long *num_out) {
    double period;
    if (min_frame_period(estimator, ts_delta_ms, &period) < 0)
        return -1;
    double t_ts_delta = (double)time_delta_ms - ts_delta_ms;
    long long num;
    if (required_long_long(estimator, name__num_of_deltas, &num) < 0)
        return -1;
    num = num + 1 < delta_counter_max ? num + 1 : delta_counter_max;
    if (set_long_long(estimator, name__num_of_deltas, num) < 0)
        return -1;
    PyObject *covariance = PyObject_GetAttr(estimator, name_E);
    if (covariance == NULL)
        return -1;
    int failed = -1;
    PyObject *noise_list = NULL;
    if (!PyList_CheckExact(covariance) || PyList_GET_SIZE(covariance) != 2) {
        PyErr_SetString(PyExc_TypeError, "E is not a 2x2 list");
        goto done;
    }
    PyObject *row0 = PyList_GET_ITEM(covariance, 0), *row1 = PyList_GET_ITEM(covariance, 1);
    double r00, r01, r10, r11, noise0, noise1, offset, previous_offset, slope, var_noise;
    noise_list = PyObject_GetAttr(estimator, name_process_noise);
    if (noise_list == NULL || two_floats(row0, &r00, &r01) < 0 ||
        two_floats(row1, &r10, &r11) < 0 || two_floats(noise_list, &noise0, &noise1) < 0 ||
        double_attribute(estimator, name__offset, &offset) < 0 ||
        double_attribute(estimator, name_previous_offset, &previous_offset) < 0 ||
        double_attribute(estimator, name_slope, &slope) < 0 ||
        double_attribute(estimator, name_var_noise, &var_noise) < 0)
        goto done;
    double size_delta = (double)size_delta_int;
    double e00 = r00 + noise0, e01 = r01, e10 = r10, e11 = r11 + noise1;
    if ((hypothesis == overusing && offset < previous_offset) ||
        (hypothesis == underusing && offset > previous_offset))
        e11 += 10 * noise1;
    double eh0 = e00 * size_delta + e01;
    double eh1 = e10 * size_delta + e11;
    double residual = t_ts_delta - slope * size_delta - offset;
    if (hypothesis == normal_usage) {
        double max_residual = 3.0 * sqrt(var_noise);
        if (update_noise(estimator,
                         fabs(residual) < max_residual ? residual
                         : residual < 0                ? -max_residual
                                                       : max_residual,
                         period, num, &var_noise) < 0)
            goto done;
    }
    double denominator = var_noise + size_delta * eh0 + eh1;
    double k0 = eh0 / denominator;
    double k1 = eh1 / denominator;
    double ikh00 = 1.0 - k0 * size_delta;
    double ikh10 = -k1 * size_delta;
    double ikh11 = 1.0 - k1;
    if (set_two_floats(row0, e00 * ikh00 + e10 * -k0, e01 * ikh00 + e11 * -k0) < 0 ||
        set_two_floats(row1, e00 * ikh10 + e10 * ikh11, e01 * ikh10 + e11 * ikh11) < 0 ||
        set_double(estimator, name_previous_offset, offset) < 0 ||
        set_double(estimator, name_slope, slope + k0 * residual) < 0 ||
        set_double(estimator, name__offset, offset + k1 * residual) < 0)
        goto done;
    *offset_out = offset + k1 * residual;
    *num_out = num;
    failed = 0;
done:
    Py_XDECREF(noise_list);
    Py_DECREF(covariance);
    return failed;
}

/* OveruseDetector.update_threshold(modified_offset, now_ms). */
static int update_threshold(PyObject *detector, double modified, long long now_ms) {
    long long last_update;
    int never = 0;
    double threshold, k_up, k_down;
    if (long_long_attribute(detector, name_last_update_ms, &last_update, &never) < 0 ||
        double_attribute(detector, name_threshold, &threshold) < 0)
        return -1;
    if (never)
        last_update = now_ms;
    if (fabs(modified) > threshold + (double)max_adapt_offset_ms)
        return set_long_long(detector, name_last_update_ms, now_ms);
    if (double_attribute(detector, name_k_up, &k_up) < 0 ||
        double_attribute(detector, name_k_down, &k_down) < 0)
        return -1;
    double k = fabs(modified) < threshold ? k_down : k_up;
    long long time_delta_ms = now_ms - last_update < 100 ? now_ms - last_update : 100;
    threshold += k * (fabs(modified) - threshold) * (double)time_delta_ms;
    /* max(6, min(threshold, 600)): an int where a bound is taken. */
    PyObject *bounded = threshold > 600.0 ? PyLong_FromLong(600)
                        : threshold > 6.0 ? PyFloat_FromDouble(threshold)
                                          : PyLong_FromLong(6);
    if (set_new(detector, name_threshold, bounded) < 0)
        return -1;
    return set_long_long(detector, name_last_update_ms, now_ms);
}

/* OveruseDetector.detect(offset, timestamp_delta_ms, num_of_deltas, now_ms). */
static int detect(PyObject *detector, double offset, double ts_delta, long long num,
                  long long now_ms) {
    if (num < 2)
        return 0;
    double threshold, previous_offset;
    if (double_attribute(detector, name_threshold, &threshold) < 0 ||
        double_attribute(detector, name_previous_offset, &previous_offset) < 0)
        return -1;
    double modified = (double)(num < min_num_deltas ? num : min_num_deltas) * offset;
    if (modified > threshold) {
        PyObject *so_far = PyObject_GetAttr(detector, name_overuse_time);
        if (so_far == NULL)
            return -1;
        double overuse_time;
        if (so_far == Py_None) {
            overuse_time = ts_delta / 2;
        } else {
            overuse_time = PyFloat_AsDouble(so_far);
            overuse_time += ts_delta;
        }
        Py_DECREF(so_far);
        long long counter;
        double time_threshold;
        if (PyErr_Occurred() || required_long_long(detector, name_overuse_counter, &counter) < 0 ||
            double_attribute(detector, name_overuse_time_threshold, &time_threshold) < 0)
            return -1;
        counter += 1;
        if (overuse_time > time_threshold && counter > 1 && offset >= previous_offset) {
            if (set_long_long(detector, name_overuse_counter, 0) < 0 ||
                set_long_long(detector, name_overuse_time, 0) < 0 ||
                PyObject_SetAttr(detector, name_hypothesis, overusing) < 0)
                return -1;
        } else if (set_long_long(detector, name_overuse_counter, counter) < 0 ||
                   set_double(detector, name_overuse_time, overuse_time) < 0) {
            return -1;
        }
    } else {
        if (set_long_long(detector, name_overuse_counter, 0) < 0 ||
            PyObject_SetAttr(detector, name_overuse_time, Py_None) < 0 ||
            PyObject_SetAttr(detector, name_hypothesis,
                             modified < -threshold ? underusing : normal_usage) < 0)
            return -1;
    }
    if (set_double(detector, name_previous_offset, offset) < 0)
        return -1;
    return update_threshold(detector, modified, now_ms);
}

/* after_grouping's filter step for these classes: 1 done, 0 not these classes. */
static int filter_step(PyObject *estimator, PyObject *deltas, long long arrival) {
    PyObject *overuse = PyObject_GetAttr(estimator, name_estimator);
    PyObject *detector = overuse ? PyObject_GetAttr(estimator, name_detector) : NULL;
    int result = -1;
    if (detector == NULL)
        goto done;
    if (Py_TYPE(overuse) != (PyTypeObject *)lean_overuse_estimator_type ||
        Py_TYPE(detector) != (PyTypeObject *)overuse_detector_type || !PyTuple_Check(deltas) ||
        PyTuple_GET_SIZE(deltas) != 3) {
        result = 0;
        goto done;
    }
    long long timestamp_delta = PyLong_AsLongLong(PyTuple_GET_ITEM(deltas, 0));
    long long time_delta = PyLong_AsLongLong(PyTuple_GET_ITEM(deltas, 1));
    long long size_delta = PyLong_AsLongLong(PyTuple_GET_ITEM(deltas, 2));
    if (PyErr_Occurred())
        goto done;
    double ts_delta_ms = (double)timestamp_delta * timestamp_to_ms;
    PyObject *hypothesis = PyObject_GetAttr(detector, name_hypothesis);
    if (hypothesis == NULL)
        goto done;
    double offset = 0.0;
    long long num = 0;
    int stepped = kalman_step(overuse, time_delta, ts_delta_ms, size_delta, hypothesis, &offset, &num);
    Py_DECREF(hypothesis);
    if (stepped < 0 || detect(detector, offset, ts_delta_ms, num, arrival) < 0)
        goto done;
    result = 1;
done:
    Py_XDECREF(overuse);
    Py_XDECREF(detector);
    return result;
}

/* LeanBitrateEstimator.update_due. */
static int update_due(PyObject *estimator, long long arrival) {
    long long last_update, interval;
    int never = 0;
    if (long_long_attribute(estimator, name_last_update_ms, &last_update, &never) < 0)
        return -1;
    if (never)
        return 1;
    if (required_long_long(estimator, name__feedback_interval_ms, &interval) < 0)
        return -1;
    if (arrival - last_update > interval)
        return 1;
    PyObject *detector = PyObject_GetAttr(estimator, name_detector);
    if (detector == NULL)
        return -1;
    PyObject *hypothesis = PyObject_GetAttr(detector, name_hypothesis);
    Py_DECREF(detector);
    if (hypothesis == NULL)
        return -1;
    int due = PyObject_RichCompareBool(hypothesis, overusing, Py_EQ);
    Py_DECREF(hypothesis);
    return due;
}

/* LeanBitrateEstimator.add(arrival_time_ms, abs_send_time, payload_size, ssrc). */
static PyObject *estimator_step(PyObject *estimator, PyObject *arrival_object,
                                PyObject *abs_send_time_object, PyObject *size_object,
                                PyObject *ssrc) {
    long long arrival = PyLong_AsLongLong(arrival_object);
    long long abs_send_time = PyLong_AsLongLong(abs_send_time_object);
    long long size = PyLong_AsLongLong(size_object);
    if (PyErr_Occurred())
        return NULL;
    if (abs_send_time < 0 || abs_send_time > 0xFFFFFF) {
        PyErr_SetString(PyExc_ValueError, "abs_send_time is a 24-bit value");
        return NULL;
    }
    PyObject *ssrcs = PyObject_GetAttr(estimator, name_ssrcs);
    if (ssrcs == NULL)
        return NULL;
    int stored = PyObject_SetItem(ssrcs, ssrc, arrival_object);
    Py_DECREF(ssrcs);
    if (stored < 0 || count_packet(estimator, arrival, size) < 0)
        return NULL;
    PyObject *deltas = group_packet(estimator, arrival, abs_send_time << 8, size);
    if (deltas == NULL)
        return NULL;
    if (deltas != Py_None) {
        int filtered = filter_step(estimator, deltas, arrival);
        if (filtered <= 0) { /* an error, or other classes: Python's whole step */
            PyObject *estimate = filtered < 0 ? NULL
                                              : PyObject_CallMethodObjArgs(estimator,
                                                                           name_after_grouping, deltas,
                                                                           arrival_object, NULL);
            Py_DECREF(deltas);
            return estimate;
        }
    }
    Py_DECREF(deltas);
    int due = update_due(estimator, arrival);
    if (due <= 0)
        return due < 0 ? NULL : Py_NewRef(Py_None);
    /* The rate control's step (every half second): Python's. */
    return PyObject_CallMethodObjArgs(estimator, name_after_grouping, Py_None, arrival_object, NULL);
}

/* estimator_add(estimator, arrival_time_ms, abs_send_time, payload_size, ssrc):
 * the step as the publication step takes it (for tests); another class's `add`. */
static PyObject *estimator_add(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "estimator_add(estimator, arrival_time_ms, abs_send_time, payload_size, ssrc)");
        return NULL;
    }
    if (estimator_type == NULL || Py_TYPE(args[0]) != (PyTypeObject *)estimator_type) {
        PyObject *add = PyObject_GetAttr(args[0], name_add);
        if (add == NULL)
            return NULL;
        PyObject *call[4] = {args[2], args[1], args[3], args[4]};
        PyObject *estimate = PyObject_Vectorcall(add, call, 0, estimator_keywords);
        Py_DECREF(add);
        return estimate;
    }
    return estimator_step(args[0], args[1], args[2], args[3], args[4]);
}

static PyObject *configure_estimator(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *estimator, *lean_overuse, *detector, *group, *normal, *over, *under;
    long long burst;
    double to_ms;
    if (!PyArg_ParseTuple(args, "O!O!O!O!OOOLdLLLL", &PyType_Type, &estimator, &PyType_Type,
                          &lean_overuse, &PyType_Type, &detector, &PyType_Type, &group, &normal,
                          &over, &under, &burst, &to_ms, &delta_counter_max, &frame_period_history,
                          &min_num_deltas, &max_adapt_offset_ms))
        return NULL;
    Py_XSETREF(estimator_type, Py_NewRef(estimator));
    Py_XSETREF(lean_overuse_estimator_type, Py_NewRef(lean_overuse));
    Py_XSETREF(overuse_detector_type, Py_NewRef(detector));
    Py_XSETREF(timestamp_group_type, Py_NewRef(group));
    Py_XSETREF(normal_usage, Py_NewRef(normal));
    Py_XSETREF(overusing, Py_NewRef(over));
    Py_XSETREF(underusing, Py_NewRef(under));
    burst_delta_threshold_ms = burst;
    timestamp_to_ms = to_ms;
    Py_RETURN_NONE;
}

/* Publication._video_bookkeeping's estimator step: the packet's send time and
 * size to the estimator, and an estimate it gives to the bandwidth. */
static int estimate_bitrate(PyObject *publication, PyObject *packet, Step *step,
                            PyObject *arrival) {
    if (step->abs_send_time == Py_None)
        return 0;
    long padding;
    int is_none;
    if (long_attribute(packet, name_padding_size, &padding, &is_none) < 0)
        return -1;
    PyObject *size = PyLong_FromSsize_t(PyBytes_GET_SIZE(step->payload) + (is_none ? 0 : padding));
    if (size == NULL)
        return -1;
    PyObject *call[5] = {step->estimator, arrival, step->abs_send_time, size, step->ssrc};
    PyObject *estimate = estimator_add(NULL, call, 5);
    Py_DECREF(size);
    if (estimate == NULL)
        return -1;
    int result = 0;
    if (estimate != Py_None) {
        PyObject *bitrate = PySequence_GetItem(estimate, 0);
        PyObject *bandwidth = bitrate == NULL ? NULL : PyObject_GetAttr(publication, name_bandwidth);
        PyObject *done = bandwidth == NULL ? NULL
                                           : PyObject_CallMethodObjArgs(bandwidth, name_report_incoming,
                                                                        bitrate, step->now, NULL);
        result = done == NULL ? -1 : 0;
        Py_XDECREF(done);
        Py_XDECREF(bandwidth);
        Py_XDECREF(bitrate);
    }
    Py_DECREF(estimate);
    return result;
}

/* PacketBuffer.put(seq, forwarded). 0: not a ring of the expected shape. */
static int put_in_ring(PyObject *buffer, long long seq, PyObject *seq_object,
                       PyObject *forwarded) {
    long mask;
    int is_none;
    if (long_attribute(buffer, name__mask, &mask, &is_none) < 0)
        return -1;
    PyObject *seqs = PyObject_GetAttr(buffer, name__seqs);
    PyObject *items = seqs == NULL ? NULL : PyObject_GetAttr(buffer, name__items);
    int result = -1;
    if (items != NULL) {
        Py_ssize_t index = (Py_ssize_t)(seq & mask);
        result = 0;
        if (!is_none && PyList_CheckExact(seqs) && PyList_CheckExact(items) &&
            index < PyList_GET_SIZE(seqs) && index < PyList_GET_SIZE(items)) {
            result = PyList_SetItem(seqs, index, Py_NewRef(seq_object)) < 0 ||
                             PyList_SetItem(items, index, Py_NewRef(forwarded)) < 0
                         ? -1
                         : 1;
        }
    }
    Py_XDECREF(seqs);
    Py_XDECREF(items);
    return result;
}

/* VideoFanOut.add(publication, forwarded, now). */
static int add_to_fan_out(PyObject *fan_out, PyObject *publication, Step *step) {
    PyObject *queue = PyObject_GetAttr(fan_out, name__queue);
    if (queue == NULL)
        return -1;
    PyObject *entry = PyTuple_Pack(3, publication, step->forwarded, step->now);
    PyObject *appended = entry == NULL ? NULL : PyObject_CallMethodOneArg(queue, name_append, entry);
    Py_XDECREF(entry);
    Py_ssize_t length = appended == NULL ? -1 : PyObject_Length(queue);
    Py_XDECREF(appended);
    Py_DECREF(queue);
    if (length < 0)
        return -1;
    PyObject *done = NULL;
    if (length > fan_out_limit) {
        PyObject *count = PyLong_FromSsize_t(length);
        done = count == NULL ? NULL : PyObject_CallMethodOneArg(fan_out, name__work, count);
        Py_XDECREF(count);
    } else {
        int scheduled = truth_of(PyObject_GetAttr(fan_out, name__scheduled));
        if (scheduled < 0)
            return -1;
        if (scheduled)
            return 0;
        if (PyObject_SetAttr(fan_out, name__scheduled, Py_True) < 0)
            return -1;
        PyObject *loop = PyObject_GetAttr(fan_out, name__loop);
        PyObject *next = loop == NULL ? NULL : PyObject_GetAttr(fan_out, name__next_slice);
        done = next == NULL ? NULL : PyObject_CallMethodOneArg(loop, name_call_soon, next);
        Py_XDECREF(loop);
        Py_XDECREF(next);
    }
    if (done == NULL)
        return -1;
    Py_DECREF(done);
    return 0;
}

static PyObject *forward_copies(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
static PyObject *copy_step_module = NULL; /* grouproom.media.copy_step */

/* Publication.forward(forwarded, now) for an enabled publication. */
static int forward_now(PyObject *publication, Step *step) {
    PyObject *chosen = PyObject_GetAttr(copy_step_module, name_forward_copies);
    if (chosen == NULL)
        return -1;
    PyObject *done;
    if (PyCFunction_Check(chosen) &&
        PyCFunction_GET_FUNCTION(chosen) == (PyCFunction)(void (*)(void))forward_copies) {
        PyObject *subscriptions = PyObject_GetAttr(publication, name_subscriptions);
        PyObject *call[3] = {subscriptions, step->forwarded, step->now};
        done = subscriptions == NULL ? NULL : forward_copies(NULL, call, 3);
        Py_XDECREF(subscriptions);
    } else {
        done = PyObject_CallMethodObjArgs(publication, name_forward, step->forwarded, step->now,
                                          NULL);
    }
    Py_DECREF(chosen);
    if (done == NULL)
        return -1;
    Py_DECREF(done);
    return 0;
}

/* A ForwardedPacket with every field set (NULL: an error). */
static PyObject *new_forwarded(PyObject *packet, Step *step, int keyframe) {
    PyObject *forwarded = ((PyTypeObject *)forwarded_type)->tp_alloc((PyTypeObject *)forwarded_type, 0);
    if (forwarded == NULL)
        return NULL;
    if (set(forwarded, FORWARDED_PACKET, packet) < 0 || set(forwarded, FORWARDED_SEQ, step->seq) < 0 ||
        set(forwarded, FORWARDED_TIMESTAMP, step->timestamp) < 0 ||
        set(forwarded, FORWARDED_PAYLOAD_TYPE, step->payload_type) < 0 ||
        set(forwarded, FORWARDED_CODEC, step->codec) < 0 ||
        set(forwarded, FORWARDED_KEYFRAME, keyframe ? Py_True : Py_False) < 0 ||
        set(forwarded, FORWARDED_PAYLOAD, step->payload) < 0 ||
        set(forwarded, FORWARDED_MARKER, step->marker) < 0 ||
        set(forwarded, FORWARDED_ABS_SEND_TIME, step->abs_send_time) < 0 ||
        set(forwarded, FORWARDED_AUDIO_LEVEL, step->audio_level) < 0 ||
        set(forwarded, FORWARDED_PICTURE_ID_AT, step->picture_id_at) < 0) {
        Py_DECREF(forwarded);
        return NULL;
    }
    return forwarded;
}

/* 1: Publication.on_rtp's work done here; 0: nothing written, the Python on_rtp
 * takes the packet; -1: an error. */
static int publication_takes(PyObject *publication, PyObject *packet, PyObject *arrival,
                             double wall, double monotonic) {
    if (publication_type == NULL || Py_TYPE(publication) != (PyTypeObject *)publication_type ||
        slots[FORWARDED_PACKET].type != (PyTypeObject *)forwarded_type)
        return 0;
    Step step;
    memset(&step, 0, sizeof(step));
    int result = -1;
    long long seq, timestamp, highest = 0;
    int is_none, is_video, enabled, vp8, keyframe = 0;
#define READ(field, object, name)                                                      \
    if ((step.field = PyObject_GetAttr(object, name_##name)) == NULL)                  \
        goto done;
    /* Everything the usual case needs, read and checked first. */
    READ(payload_type, packet, payload_type)
    READ(codecs, publication, codecs)
    if (!PyDict_CheckExact(step.codecs))
        goto python;
    step.codec = Py_XNewRef(PyDict_GetItemWithError(step.codecs, step.payload_type));
    if (step.codec == NULL) {
        if (PyErr_Occurred())
            goto done;
        goto python;
    }
    READ(stats, publication, _statistics)
    READ(ssrc, packet, ssrc)
    READ(media_ssrc, publication, media_ssrc)
    READ(payload, packet, payload)
    if (step.stats == Py_None || !PyBytes_CheckExact(step.payload) ||
        PyBytes_GET_SIZE(step.payload) == 0)
        goto python;
    int same_source = PyObject_RichCompareBool(step.ssrc, step.media_ssrc, Py_EQ);
    if (same_source < 0)
        goto done;
    if (!same_source)
        goto python;
    READ(seq, packet, sequence_number)
    READ(timestamp, packet, timestamp)
    READ(marker, packet, marker)
    READ(extensions, packet, extensions)
    READ(abs_send_time, step.extensions, abs_send_time)
    READ(audio_level, step.extensions, audio_level)
    READ(vp8_types, publication, _vp8_payload_types)
    seq = PyLong_AsLongLong(step.seq);
    timestamp = PyLong_AsLongLong(step.timestamp);
    if ((seq == -1 || timestamp == -1) && PyErr_Occurred())
        goto done;
    if (!PyAnySet_Check(step.vp8_types))
        goto python;
    vp8 = PySet_Contains(step.vp8_types, step.payload_type);
    is_video = truth_of(PyObject_GetAttr(publication, name_is_video));
    enabled = truth_of(PyObject_GetAttr(publication, name_enabled));
    if (vp8 < 0 || is_video < 0 || enabled < 0)
        goto done;
    if (is_video) {
        READ(nack, publication, _nack)
        READ(buffer, publication, buffer)
        READ(fan_out, publication, _fan_out)
        READ(estimator, publication, _estimator)
        if (!vp8 || step.nack == Py_None || step.buffer == Py_None || step.fan_out == Py_None ||
            step.estimator == Py_None)
            goto python;
        if (long_long_attribute(step.nack, name_highest, &highest, &is_none) < 0)
            goto done;
        if (is_none || ((seq - highest) % SEQ_MOD + SEQ_MOD) % SEQ_MOD != 1)
            goto python; /* the first packet, a gap, a duplicate, a late one */
    }
#undef READ
    /* From here on it is this step's: aiortc's statistics first. */
    int added = add_to_statistics(step.stats, seq, timestamp, wall);
    if (added <= 0) {
        result = added < 0 ? -1 : 0;
        goto done;
    }
    long long received;
    if (long_long_attribute(publication, name_packets_received, &received, &is_none) < 0 ||
        set_long_long(publication, name_packets_received, received + 1) < 0)
        goto done;
    if ((step.now = PyFloat_FromDouble(monotonic)) == NULL)
        goto done;
    if (is_video) {
        if (estimate_bitrate(publication, packet, &step, arrival) < 0)
            goto done;
        if (PyObject_SetAttr(step.nack, name_highest, step.seq) < 0)
            goto done;
        keyframe = vp8_starts_keyframe((const unsigned char *)PyBytes_AS_STRING(step.payload),
                                       PyBytes_GET_SIZE(step.payload));
    }
    step.picture_id_at = vp8 ? vp8_picture_id((const unsigned char *)PyBytes_AS_STRING(step.payload),
                                              PyBytes_GET_SIZE(step.payload))
                             : Py_NewRef(Py_None);
    if (step.picture_id_at == NULL || (step.forwarded = new_forwarded(packet, &step, keyframe)) == NULL)
        goto done;
    if (is_video) {
        int put = put_in_ring(step.buffer, seq, step.seq, step.forwarded);
        if (put < 0)
            goto done;
        if (put == 0) {
            PyObject *done_put = PyObject_CallMethodObjArgs(step.buffer, name_put, step.seq,
                                                            step.forwarded, NULL);
            if (done_put == NULL)
                goto done;
            Py_DECREF(done_put);
        }
        if (keyframe && set_new(publication, name__keyframe_start,
                                PyTuple_Pack(2, step.seq, step.now)) < 0)
            goto done;
    }
    result = 1;
    if (enabled && (is_video ? add_to_fan_out(step.fan_out, publication, &step)
                             : forward_now(publication, &step)) < 0)
        result = -1;
    goto done;
python:
    result = 0;
done:
    release_step(&step);
    return result;
}

/* publication_step(publication, packet, arrival_time_ms, wall, monotonic), for
 * the tests: True when the step took the packet, False when it left it (and
 * everything) to the Python on_rtp. */
static PyObject *publication_step(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *publication, *packet, *arrival;
    double wall, monotonic;
    if (!PyArg_ParseTuple(args, "OOOdd", &publication, &packet, &arrival, &wall, &monotonic))
        return NULL;
    int taken = publication_takes(publication, packet, arrival, wall, monotonic);
    if (taken < 0)
        return NULL;
    return PyBool_FromLong(taken);
}

/* Deliver a routed packet: a ForwardingReceiver's publication takes it here or
 * in its Python on_rtp; any other receiver through the state's deliver. 1: done;
 * 0: `deliver` declined it; -1: error. */
static int deliver_to(PyObject *state, PyObject *receiver, PyObject *packet, PyObject *arrival,
                      double wall, double monotonic) {
    if (forwarding_receiver_type != NULL &&
        Py_TYPE(receiver) == (PyTypeObject *)forwarding_receiver_type) {
        PyObject *publication = PyObject_GetAttr(receiver, name_publication);
        if (publication == NULL)
            return -1;
        int taken = publication_takes(publication, packet, arrival, wall, monotonic);
        if (taken == 0) {
            PyObject *done = PyObject_CallMethodObjArgs(publication, name_on_rtp, packet, arrival,
                                                        NULL);
            taken = done == NULL ? -1 : 1;
            Py_XDECREF(done);
        }
        Py_DECREF(publication);
        return taken;
    }
    PyObject *call[3] = {receiver, packet, arrival};
    return truth_of(call_state(state, RECEIVE_DELIVER, call, 3));
}

static PyObject *configure_publication(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *publication, *receiver, *forwarded, *copy_step;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!O!O!nO", &PyType_Type, &publication, &PyType_Type, &receiver,
                          &PyType_Type, &forwarded, &limit, &copy_step))
        return NULL;
    if (((PyTypeObject *)forwarded)->tp_new == NULL) {
        PyErr_SetString(PyExc_TypeError, "ForwardedPacket must be a class of its own");
        return NULL;
    }
    Py_XSETREF(publication_type, Py_NewRef(publication));
    Py_XSETREF(forwarding_receiver_type, Py_NewRef(receiver));
    Py_XSETREF(forwarded_type, Py_NewRef(forwarded));
    Py_XSETREF(copy_step_module, Py_NewRef(copy_step));
    fan_out_limit = limit;
    Py_RETURN_NONE;
}

/* The handler's step after SRTP: `plain` from a known source, within budget. */
static PyObject *deliver_plain(PyObject *state, PyObject *plain, PyObject *arrival,
                               PyObject *ssrc, double wall, double monotonic) {
    PyObject *ids = get(state, RECEIVE_IDS);
    if (ids == NULL)
        return NULL;
    PyObject *packet = read_rtp((const unsigned char *)PyBytes_AS_STRING(plain),
                                PyBytes_GET_SIZE(plain), ids);
    Py_DECREF(ids);
    if (packet == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_TRUE; /* dropped: malformed */
    }
    PyObject *payload_type = PyLong_FromLong(PyBytes_AS_STRING(plain)[1] & 0x7F);
    if (payload_type == NULL) {
        Py_DECREF(packet);
        return NULL;
    }
    PyObject *receiver = registered_receiver(state, ssrc, payload_type);
    Py_DECREF(payload_type);
    PyObject *result;
    if (receiver == NULL) {
        PyObject *call[2] = {packet, arrival};
        result = call_state(state, RECEIVE_ROUTE_AND_DELIVER, call, 2);
    } else {
        Py_INCREF(receiver);
        PyObject *call[3] = {receiver, packet, arrival};
        int delivered = deliver_to(state, receiver, packet, arrival, wall, monotonic);
        result = delivered < 0 ? NULL
                 : delivered   ? Py_NewRef(Py_None)
                               : call_state(state, RECEIVE_DELIVER_LATER, call, 3);
        Py_DECREF(receiver);
    }
    Py_DECREF(packet);
    if (result == NULL)
        return NULL;
    Py_DECREF(result);
    Py_RETURN_TRUE;
}

/* The handler: receive_handler(state)(data) -> bool, as direct_receive's handle. */
static PyObject *receive_datagram(PyObject *state, PyObject *data) {
    if (!PyBytes_CheckExact(data))
        return python_handles(state, data);
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    const unsigned char *bytes = (const unsigned char *)PyBytes_AS_STRING(data);
    if (size < 2 || (bytes[1] >= 192 && bytes[1] <= 208) || size > SRTP_SESSION_BUFFER)
        return python_handles(state, data); /* RTCP (aiortc's is_rtcp), or too long */
    PyObject *dtls = get(state, RECEIVE_DTLS);
    if (dtls == NULL)
        return NULL;
    PyObject *srtp = PyObject_GetAttr(dtls, name__rx_srtp);
    PyObject *dtls_state = srtp == NULL ? NULL : PyObject_GetAttr(dtls, name__state);
    Py_DECREF(dtls);
    PyObject *session = dtls_state == NULL ? NULL : get(state, RECEIVE_SESSION);
    if (session == NULL) {
        Py_XDECREF(srtp);
        Py_XDECREF(dtls_state);
        return NULL;
    }
    int ours = srtp == session && srtp != Py_None && dtls_state == dtls_connected;
    Py_DECREF(srtp);
    Py_DECREF(dtls_state);
    Py_DECREF(session);
    if (!ours) /* not connected, or a session the Python handler has not seen yet */
        return python_handles(state, data);
    long handle;
    int is_none;
    if (long_slot(state, RECEIVE_SRTP_HANDLE, &handle, &is_none) < 0)
        return NULL;
    if (is_none || handle == 0)
        return python_handles(state, data);

    double wall = clock_seconds(CLOCK_REALTIME), monotonic = clock_seconds(CLOCK_MONOTONIC);
    long long arrival_ms = (long long)(wall * 1000) + NTP_TO_UNIX_MS;
    memcpy(receive_buffer, bytes, (size_t)size);
    int length = (int)size;
    if (srtp_unprotect((void *)(uintptr_t)handle, receive_buffer, &length) != srtp_ok)
        Py_RETURN_TRUE; /* dropped, as aiortc drops it (a replay, a forgery) */
    PyObject *plain = PyBytes_FromStringAndSize((const char *)receive_buffer, length);
    PyObject *arrival = plain == NULL ? NULL : PyLong_FromLongLong(arrival_ms);
    if (arrival == NULL) {
        Py_XDECREF(plain);
        return NULL;
    }
    PyObject *result = NULL, *ssrc = NULL, *sources = NULL, *budget = NULL;
    int usual = length >= FIXED_HEADER_LENGTH;
    if (usual) {
        ssrc = PyLong_FromUnsignedLong(
            (unsigned long)receive_buffer[8] << 24 | (unsigned long)receive_buffer[9] << 16 |
            (unsigned long)receive_buffer[10] << 8 | receive_buffer[11]);
        sources = ssrc == NULL ? NULL : get(state, RECEIVE_SOURCES);
        budget = sources == NULL ? NULL : get(state, RECEIVE_BUDGET);
        if (budget == NULL)
            goto done;
        int known = PyAnySet_Check(sources) ? PySet_Contains(sources, ssrc) : 0;
        if (known < 0)
            goto done;
        usual = known;
        if (usual && budget != Py_None) {
            if (slots[BUDGET_AT].type == NULL || Py_TYPE(budget) != slots[BUDGET_AT].type) {
                usual = 0;
            } else {
                usual = budget_takes(budget, length, monotonic);
                if (usual < 0)
                    goto done;
            }
        }
    }
    if (usual) {
        result = deliver_plain(state, plain, arrival, ssrc, wall, monotonic);
    } else {
        /* A new source, a budget used up or a packet too short: Python's steps. */
        PyObject *call[2] = {plain, arrival};
        result = call_state(state, RECEIVE_AFTER_UNPROTECT, call, 2);
    }
done:
    Py_DECREF(plain);
    Py_DECREF(arrival);
    Py_XDECREF(ssrc);
    Py_XDECREF(sources);
    Py_XDECREF(budget);
    return result;
}

static PyMethodDef receive_definition = {
    "receive_datagram", receive_datagram, METH_O,
    "handle(data) -> bool: direct_receive's handler, compiled."};

/* receive_handler(state): the compiled handler bound to a DirectReceiveState. */
static PyObject *receive_handler(PyObject *module, PyObject *state) {
    if (srtp_unprotect == NULL || rtp_packet_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure_receive() first");
        return NULL;
    }
    return PyCFunction_NewEx(&receive_definition, state, module);
}

static PyObject *configure_receive(PyObject *module, PyObject *args) {
    (void)module;
    unsigned long long unprotect_address;
    PyObject *packet_type, *header_extensions_type;
    if (!PyArg_ParseTuple(args, "KO!O!", &unprotect_address, &PyType_Type, &packet_type,
                          &PyType_Type, &header_extensions_type))
        return NULL;
    if (unprotect_address == 0 || srtp_protect == NULL) {
        PyErr_SetString(PyExc_ValueError, "configure() first, and an srtp_unprotect");
        return NULL;
    }
    if (((PyTypeObject *)packet_type)->tp_new != PyBaseObject_Type.tp_new ||
        ((PyTypeObject *)header_extensions_type)->tp_new != PyBaseObject_Type.tp_new) {
        PyErr_SetString(PyExc_TypeError, "RtpPacket and HeaderExtensions must use object.__new__");
        return NULL;
    }
    srtp_unprotect = (srtp_protect_function)(uintptr_t)unprotect_address;
    Py_XSETREF(rtp_packet_type, Py_NewRef(packet_type));
    Py_XSETREF(extensions_type, Py_NewRef(header_extensions_type));
    Py_RETURN_NONE;
}

/* -- The media socket's datagram, up to its connection's handler ---------------
 *
 * udp_mux.SharedSocket.datagram_received and hooks._guarded_datagram_received
 * for an SRTP or SRTCP datagram (first byte 128-191) from an address the socket
 * has learnt: straight to the connection's direct handler (the receive step
 * above), or to aioice's connection when it has none or declines. Every other
 * datagram (STUN, DTLS, an address not learnt) goes to the Python _route. */

static PyObject *muxed_protocol_type = NULL; /* udp_mux.MuxedProtocol */
static PyObject *name_handler = NULL;        /* hooks.DIRECT_RTP_HANDLER */
static Py_ssize_t harmful_size = 0;          /* hooks.SRTP_BUFFER_BYTES */

static PyObject *mux_datagram(PyObject *shared, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "datagram_received(data, addr)");
        return NULL;
    }
    PyObject *data = args[0], *addr = args[1];
    const unsigned char *bytes = PyBytes_CheckExact(data)
                                     ? (const unsigned char *)PyBytes_AS_STRING(data)
                                     : NULL;
    Py_ssize_t size = bytes == NULL ? 0 : PyBytes_GET_SIZE(data);
    PyObject *key = NULL, *by_address = NULL, *protocol = NULL, *receiver = NULL;
    PyObject *result = NULL;
    if (size == 0 || bytes[0] < 128 || bytes[0] > 191 || !PyTuple_Check(addr) ||
        PyTuple_GET_SIZE(addr) < 2)
        goto python;
    key = PyTuple_GET_SIZE(addr) == 2 && PyTuple_CheckExact(addr)
              ? Py_NewRef(addr)
              : PyTuple_Pack(2, PyTuple_GET_ITEM(addr, 0), PyTuple_GET_ITEM(addr, 1));
    by_address = key == NULL ? NULL : PyObject_GetAttr(shared, name_by_address);
    if (by_address == NULL)
        goto done;
    if (!PyDict_CheckExact(by_address))
        goto python;
    protocol = Py_XNewRef(PyDict_GetItemWithError(by_address, key));
    if (protocol == NULL) {
        if (PyErr_Occurred())
            goto done;
        goto python;
    }
    if ((PyObject *)Py_TYPE(protocol) != muxed_protocol_type)
        goto python;
    if (size > harmful_size) { /* it would end aiortc's DTLS transport: dropped */
        result = Py_NewRef(Py_None);
        goto done;
    }
    receiver = PyObject_GetAttr(protocol, name_receiver);
    if (receiver == NULL)
        goto done;
    PyObject *direct;
    if (PyObject_GetOptionalAttr(receiver, name_handler, &direct) < 0)
        goto done;
    if (direct != NULL) {
        int handled = truth_of(PyObject_CallOneArg(direct, data));
        Py_DECREF(direct);
        if (handled < 0)
            goto done;
        if (handled) {
            result = Py_NewRef(Py_None);
            goto done;
        }
    }
    PyObject *candidate = PyObject_GetAttr(protocol, name_local_candidate);
    PyObject *component = candidate == NULL ? NULL : PyObject_GetAttr(candidate, name_component);
    Py_XDECREF(candidate);
    if (component == NULL)
        goto done;
    result = PyObject_CallMethodObjArgs(receiver, name_data_received, data, component, NULL);
    Py_DECREF(component);
    goto done;
python:
    result = PyObject_CallMethodObjArgs(shared, name__route, data, addr, NULL);
done:
    Py_XDECREF(key);
    Py_XDECREF(by_address);
    Py_XDECREF(protocol);
    Py_XDECREF(receiver);
    return result;
}

static PyMethodDef mux_definition = {
    "datagram_received", (PyCFunction)(void (*)(void))mux_datagram, METH_FASTCALL,
    "datagram_received(data, addr): the media socket's datagram, compiled."};

static PyObject *mux_configured(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyBool_FromLong(muxed_protocol_type != NULL);
}

/* mux_handler(shared): SharedSocket.datagram_received for `shared`, compiled. */
static PyObject *mux_handler(PyObject *module, PyObject *shared) {
    if (muxed_protocol_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure_mux() first");
        return NULL;
    }
    return PyCFunction_NewEx(&mux_definition, shared, module);
}

static PyObject *configure_mux(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *protocol_type, *handler;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "O!Un", &PyType_Type, &protocol_type, &handler, &size))
        return NULL;
    Py_INCREF(handler);
    PyUnicode_InternInPlace(&handler);
    Py_XSETREF(name_handler, handler);
    Py_XSETREF(muxed_protocol_type, Py_NewRef(protocol_type));
    harmful_size = size;
    Py_RETURN_NONE;
}

static PyObject *configure(PyObject *module, PyObject *args) {
    (void)module;
    unsigned long long protect_address;
    int ok_status;
    PyObject *connected, *error;
    if (!PyArg_ParseTuple(args, "KiOO", &protect_address, &ok_status, &connected, &error))
        return NULL;
    if (protect_address == 0) {
        PyErr_SetString(PyExc_ValueError, "no srtp_protect");
        return NULL;
    }
    srtp_protect = (srtp_protect_function)(uintptr_t)protect_address;
    srtp_ok = ok_status;
    Py_XSETREF(dtls_connected, Py_NewRef(connected));
    Py_XSETREF(srtp_error, Py_NewRef(error));
    Py_RETURN_NONE;
}

/* set_classes(subscription=..., munger=..., picture_ids=..., route=...,
 * writer=..., send_state=..., receive=..., budget=..., forwarded=...): the classes whose objects' attributes are read
 * in place (a group not given, or an attribute that is not a plain slot, goes
 * through getattr), and subscription.Subscription, whose copies are made here. */
static PyObject *set_classes(PyObject *module, PyObject *args, PyObject *keywords) {
    (void)module;
    if (PyTuple_GET_SIZE(args) != 0 || keywords == NULL) {
        PyErr_SetString(PyExc_TypeError, "set_classes takes keyword arguments only");
        return NULL;
    }
    PyObject *subscription = PyDict_GetItemString(keywords, "subscription");
    if (subscription == NULL || !PyType_Check(subscription)) {
        PyErr_SetString(PyExc_TypeError, "subscription must be a class");
        return NULL;
    }
    for (int slot = 0; slot < SLOT_COUNT; slot++) {
        Slot *place = &slots[slot];
        place->type = NULL;
        PyObject *class = PyDict_GetItemString(keywords, place->group);
        if (class == NULL || !PyType_Check(class))
            continue;
        PyObject *descriptor = _PyType_Lookup((PyTypeObject *)class, place->name);
        if (descriptor == NULL || Py_TYPE(descriptor) != &PyMemberDescr_Type)
            continue;
        PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY))
            continue;
        place->type = (PyTypeObject *)class;
        place->offset = member->offset;
    }
    Py_XSETREF(subscription_type, Py_NewRef(subscription));
    Py_RETURN_NONE;
}

/* Which attributes are read in place: {"group.attribute": bool}. */
static PyObject *in_place(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    PyObject *result = PyDict_New();
    if (result == NULL)
        return NULL;
    for (int slot = 0; slot < SLOT_COUNT; slot++) {
        PyObject *key = PyUnicode_FromFormat("%s.%s", slots[slot].group, slots[slot].attribute);
        if (key == NULL || PyDict_SetItem(result, key, slots[slot].type ? Py_True : Py_False) < 0) {
            Py_XDECREF(key);
            Py_DECREF(result);
            return NULL;
        }
        Py_DECREF(key);
    }
    return result;
}

/* The socket address for (host, port), as sendto takes it; b"" when the host
 * is not a plain IPv4 or IPv6 address (the Python path sends those). */
static PyObject *pack_address(PyObject *module, PyObject *args) {
    (void)module;
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "si", &host, &port))
        return NULL;
    if (port < 0 || port > 65535)
        return PyBytes_FromStringAndSize("", 0);
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof(v4));
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((uint16_t)port);
        return PyBytes_FromStringAndSize((const char *)&v4, sizeof(v4));
    }
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof(v6));
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((uint16_t)port);
        return PyBytes_FromStringAndSize((const char *)&v6, sizeof(v6));
    }
    return PyBytes_FromStringAndSize("", 0);
}

static PyMethodDef methods[] = {
    {"forward_copies", (PyCFunction)(void (*)(void))forward_copies, METH_FASTCALL,
     "forward_copies(subscriptions, forwarded, now): Publication.forward's loop."},
    {"configure", configure, METH_VARARGS,
     "configure(srtp_protect_address, srtp_ok, dtls_connected, srtp_error)"},
    {"set_classes", (PyCFunction)(void (*)(void))set_classes, METH_VARARGS | METH_KEYWORDS,
     "set_classes(subscription=, munger=, picture_ids=, route=, writer=, send_state=, receive=,"
     " budget=, forwarded=)"},
    {"in_place", in_place, METH_NOARGS, "which attributes are read in place"},
    {"pack_address", pack_address, METH_VARARGS, "pack_address(host, port) -> sockaddr bytes"},
    {"configure_receive", configure_receive, METH_VARARGS,
     "configure_receive(srtp_unprotect_address, RtpPacket, HeaderExtensions)"},
    {"parse_rtp", (PyCFunction)(void (*)(void))parse_rtp, METH_FASTCALL,
     "parse_rtp(data, ids) -> RtpPacket: rtp_parse.parse_rtp, compiled."},
    {"budget_step", budget_step, METH_VARARGS,
     "budget_step(budget, size, now): IncomingBudget.allows for what it allows."},
    {"configure_publication", configure_publication, METH_VARARGS,
     "configure_publication(Publication, ForwardingReceiver, ForwardedPacket, fan_out_limit,"
     " copy_step)"},
    {"publication_step", publication_step, METH_VARARGS,
     "publication_step(publication, packet, arrival_time_ms, wall, monotonic) -> bool"},
    {"configure_mux", configure_mux, METH_VARARGS,
     "configure_mux(MuxedProtocol, direct_handler_attribute, harmful_size)"},
    {"mux_configured", mux_configured, METH_NOARGS, "whether configure_mux() was called"},
    {"estimator_add", (PyCFunction)(void (*)(void))estimator_add, METH_FASTCALL,
     "estimator_add(estimator, arrival_time_ms, abs_send_time, payload_size, ssrc): "
     "LeanBitrateEstimator.add, compiled."},
    {"configure_estimator", configure_estimator, METH_VARARGS,
     "configure_estimator(LeanBitrateEstimator, LeanOveruseEstimator, OveruseDetector, "
     "TimestampGroup, NORMAL, OVERUSING, UNDERUSING, BURST_DELTA_THRESHOLD_MS, TIMESTAMP_TO_MS, "
     "DELTA_COUNTER_MAX, MIN_FRAME_PERIOD_HISTORY_LENGTH, MIN_NUM_DELTAS, MAX_ADAPT_OFFSET_MS)"},
    {"mux_handler", mux_handler, METH_O,
     "mux_handler(shared): SharedSocket.datagram_received for it, compiled."},
    {"receive_handler", receive_handler, METH_O,
     "receive_handler(state): direct_receive's handler for that state, compiled."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_copy_step", "The per-copy step of forwarding, compiled.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__copy_step(void) {
#define INTERN(name)                                                                   \
    if (name_##name == NULL && (name_##name = PyUnicode_InternFromString(#name)) == NULL) \
        return NULL;
    NAMES(INTERN)
#undef INTERN
    for (int slot = 0; slot < SLOT_COUNT; slot++)
        if (slots[slot].name == NULL &&
            (slots[slot].name = PyUnicode_InternFromString(slots[slot].attribute)) == NULL)
            return NULL;
    if (component_one == NULL && (component_one = PyLong_FromLong(1)) == NULL)
        return NULL;
    if (empty_tuple == NULL && (empty_tuple = PyTuple_New(0)) == NULL)
        return NULL;
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL)
        return NULL;
    if (estimator_keywords == NULL &&
        (estimator_keywords = PyTuple_Pack(4, name_abs_send_time, name_arrival_time_ms,
                                           name_payload_size, name_ssrc)) == NULL)
        return NULL;
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL)
        return NULL;
    if (PyModule_AddStringConstant(module, "SOURCE_HASH", COPY_STEP_SOURCE_HASH) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
