-- Accounts of the identity context. The event store (runtime) holds their events:
-- UserRegistered and UserProfileChanged on stream user-<id>.
CREATE TABLE users (
    user_id uuid PRIMARY KEY,
    email text NOT NULL,
    email_key text NOT NULL,  -- trimmed, NFC, lower-cased: what uniqueness is about
    password_hash text,       -- NULL for accounts made by the dev token
    role text NOT NULL CHECK (role IN ('student', 'instructor', 'admin')),
    display_name text NOT NULL,
    timezone text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key_unique UNIQUE (email_key)
);
