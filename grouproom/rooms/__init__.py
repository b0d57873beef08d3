"""The domain: rooms and therapy sessions, the people in them, and who may do what.

Pure logic: nothing here knows about sockets, JSON, RTP or the database. Time
comes in as an argument (`now`), so every rule can be tested exactly.

- admission, room, registry: the open rooms of the forwarding core.
- roles, permissions: who may do what, by role and phase.
- therapy_session: a group's session in progress (waiting room, seats,
  moderation, phases and rounds, chat and signals), with the events it causes.
- session_plan, ground_rules, invites: what a group's therapists set up.
"""
