-- DPoP (RFC 9449 §10): the JWK thumbprint an authorization code is bound to
-- (`dpop_jkt` at /authorize, or the key of a DPoP proof sent to /oauth/par);
-- the code is then exchanged only with a proof made with that key. NULL: not
-- bound.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
