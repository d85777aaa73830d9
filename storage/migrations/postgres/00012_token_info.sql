-- +goose Up
-- What validating an access token needs beyond the columns it already has (granted
-- scopes and audience, the sign-in's methods, the B2B account, the anonymous and
-- third-party marks), as a small JSON object written with the token, so that
-- introspection, validateauthtoken, /me and userinfo read it instead of decoding the
-- whole stored request and session. NULL for tokens written before: those are still
-- decoded from request.
ALTER TABLE oauth2_tokens ADD COLUMN info TEXT;

-- +goose Down
ALTER TABLE oauth2_tokens DROP COLUMN info;
