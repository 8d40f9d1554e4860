-- Accounts, groups and permissions, audit, server-side sessions, token revocations.
-- Keys compare byte by byte (COLLATE "C"), as on SQLite: every listing pages in the
-- same order whatever the database's locale.
CREATE TABLE groups (
    id          text COLLATE "C" PRIMARY KEY,
    name        text NOT NULL,
    name_key    text COLLATE "C" NOT NULL CONSTRAINT groups_name_unique UNIQUE,
    permissions text[] NOT NULL,
    parent_id   text COLLATE "C" REFERENCES groups(id),
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL,
    version     bigint NOT NULL
);
CREATE INDEX groups_parent ON groups(parent_id);

CREATE TABLE users (
    id            text COLLATE "C" PRIMARY KEY,
    name          text NOT NULL,
    name_key      text COLLATE "C" NOT NULL CONSTRAINT users_name_unique UNIQUE,
    password_hash text NOT NULL,
    group_id      text COLLATE "C" NOT NULL REFERENCES groups(id),
    attributes    json NOT NULL,            -- object; json, not jsonb: stored as written
    grants        text[] NOT NULL,
    denies        text[] NOT NULL,
    created_at    double precision NOT NULL,
    updated_at    double precision NOT NULL,
    version       bigint NOT NULL
);
CREATE INDEX users_group ON users(group_id, name_key);

CREATE TABLE audit (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      double precision NOT NULL,
    actor   text COLLATE "C" NOT NULL,
    action  text NOT NULL,
    target  text COLLATE "C" NOT NULL,
    detail  json NOT NULL
);
CREATE INDEX audit_actor ON audit(actor, id);
CREATE INDEX audit_target ON audit(target, id);

CREATE TABLE sessions (
    id         text COLLATE "C" PRIMARY KEY,
    data       json NOT NULL,
    expires_at double precision            -- NULL: never
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE revoked_tokens (
    jti        text COLLATE "C" PRIMARY KEY,
    expires_at double precision            -- the token's own expiry; NULL: never
);

CREATE TABLE user_token_cutoffs (
    user_id    text COLLATE "C" PRIMARY KEY,
    not_before double precision NOT NULL
);
