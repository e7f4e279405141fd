-- A poll (RFC 8936) takes a stream's oldest waiting events: with this index
-- it reads those rows in order instead of sorting the stream's whole
-- backlog. Only events waiting for a poll pay for it.
CREATE INDEX outbox_poll ON outbox (destination, created_at, id) WHERE status = 'pending' AND kind = 'ssf_poll';
