-- Accounts, groups and permissions, audit, server-side sessions, token revocations.
CREATE TABLE groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    permissions TEXT NOT NULL,            -- JSON array of permission names
    parent_id   TEXT REFERENCES groups(id),
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    version     INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    name_key      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    group_id      TEXT NOT NULL REFERENCES groups(id),
    attributes    TEXT NOT NULL,          -- JSON object
    grants        TEXT NOT NULL,          -- JSON array
    denies        TEXT NOT NULL,          -- JSON array
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    version       INTEGER NOT NULL
);
CREATE INDEX users_group ON users(group_id, name_key);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      REAL NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL                 -- JSON object
);
CREATE INDEX audit_actor ON audit(actor, id);
CREATE INDEX audit_target ON audit(target, id);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    data       TEXT NOT NULL,             -- JSON object
    expires_at REAL                       -- NULL: never
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at REAL                       -- the token's own expiry; NULL: never
);

CREATE TABLE user_token_cutoffs (
    user_id    TEXT PRIMARY KEY,
    not_before REAL NOT NULL
);
