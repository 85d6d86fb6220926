-- Who may use claimsd: users (people, with passwords and access tokens), API keys (systems), and
-- the refresh tokens of users' sessions. Secrets are never stored: passwords as bcrypt hashes,
-- API key secrets and refresh tokens as SHA-256 (both are 256 random bits).
--
-- A role's scope: the NPIs a provider acts for, the subscriber id a member is. Other roles
-- ignore it. An unbound provider or member sees no claim.
CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email               text NOT NULL CHECK (email <> '' AND length(email) <= 254),
    full_name           text NOT NULL CHECK (length(full_name) <= 256),
    password_hash       text NOT NULL,
    role                text NOT NULL CHECK (role IN ('admin', 'provider', 'payer', 'member', 'auditor', 'metrics')),
    scope_npis          text[] NOT NULL DEFAULT '{}',
    scope_subscriber_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    disabled_at         timestamptz
);
-- Emails are unique whatever their case.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE api_keys (
    id                  text PRIMARY KEY CHECK (id ~ '^[a-z2-7]{12}$'),
    name                text NOT NULL CHECK (length(name) <= 256),
    secret_hash         text NOT NULL,
    role                text NOT NULL CHECK (role IN ('admin', 'provider', 'payer', 'member', 'auditor', 'metrics')),
    scope_npis          text[] NOT NULL DEFAULT '{}',
    scope_subscriber_id text,
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz,
    last_used_at        timestamptz,
    revoked_at          timestamptz
);

-- Each login starts a family; each refresh marks its token used and adds the next one to the
-- family. Presenting a used token again revokes the whole family (OAuth 2.0 security BCP).
CREATE TABLE refresh_tokens (
    token_hash  text PRIMARY KEY,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id),
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- A member lists the claims of its own subscriber id.
CREATE INDEX claim_lines_subscriber_id ON claim_lines (subscriber_id);
