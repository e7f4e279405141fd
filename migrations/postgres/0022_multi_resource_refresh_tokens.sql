-- Multi-Resource Refresh Tokens.
-- `clients.rt_policies`: the client's `refresh_token.policies`, JSON text
-- ([{"audience": …, "scope": […]}]); NULL when there are none.
ALTER TABLE clients ADD COLUMN rt_policies TEXT;

-- The APIs besides its own that a refresh-token family was bound to when it
-- was issued: one row per policy API, naming the user's grant for that API
-- and its epoch then. The family reaches the API only while that grant row
-- still has that epoch (a revoked or deleted grant ends it) and the client's
-- policy still names the API. Deleted with the family by the purge.
CREATE TABLE family_resources (
    family_id TEXT NOT NULL,
    audience TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    grant_epoch BIGINT NOT NULL,
    PRIMARY KEY (family_id, audience)
);
