-- Auth0's refresh_token_metadata and session_metadata (PATCH
-- /api/v2/refresh-tokens/{id}, PATCH /api/v2/sessions/{id}): a JSON object
-- of at most 25 string entries, NULL when there is none. The rows go with
-- their family or session when the purge deletes it.
ALTER TABLE refresh_token_families ADD COLUMN metadata TEXT;
ALTER TABLE sessions ADD COLUMN metadata TEXT;
