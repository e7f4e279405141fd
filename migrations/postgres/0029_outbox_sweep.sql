-- Streams whose waiting messages have not all followed a change yet. A
-- change of an SSF stream (paused, resumed, switched between push and poll,
-- disabled, deleted) or of a log stream (no longer active, deleted) moves
-- or ends the first thousand of its waiting messages in its own
-- transaction; when more wait, it leaves the stream's id here, and the
-- delivery worker (and the stream's own polls) move the rest a thousand per
-- transaction. So no change holds the writer for the length of a backlog.
-- Deleting a client leaves its SSF streams here. `generation` is drawn at
-- random by each change: a sweep removes the row only if no change came
-- after it read it. A change that ends the waiting messages (an SSF stream
-- disabled or deleted, a log stream stopped or deleted) also leaves
-- `drop_until` (its time) and `drop_reason`: messages made before then end
-- with that reason whatever the stream's state when the sweep reaches them,
-- so enabling the stream again does not revive them.
CREATE TABLE outbox_sweep (
    destination TEXT PRIMARY KEY,
    generation BIGINT NOT NULL,
    drop_until BIGINT,
    drop_reason TEXT
);
-- A paused stream's held events, per stream, so moving them walks only
-- them (push and poll events have theirs: 0017, 0021).
CREATE INDEX outbox_held ON outbox (destination, id) WHERE status = 'pending' AND kind = 'ssf_held';
