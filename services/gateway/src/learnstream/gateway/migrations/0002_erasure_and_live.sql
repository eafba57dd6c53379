-- Erasure: the account keeps its id (other contexts refer to it) but loses every
-- personal field; erased_at makes its tokens and its email unusable.
ALTER TABLE users ADD COLUMN erased_at timestamptz;
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ALTER COLUMN email_key DROP NOT NULL;

-- One row per DELETE /api/me, and one per context that confirmed it.
CREATE TABLE erasure_requests (
    request_id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    requested_at timestamptz NOT NULL
);
CREATE TABLE erasure_confirmations (
    request_id uuid NOT NULL REFERENCES erasure_requests (request_id),
    context text NOT NULL,
    confirmed_at timestamptz NOT NULL,
    PRIMARY KEY (request_id, context)
);

-- Who teaches each course, from the catalog's events: live updates about a course
-- (new enrollments) go to its instructor only.
CREATE TABLE course_owners (
    course_id uuid PRIMARY KEY,
    instructor_id uuid NOT NULL
);
