-- Certificates of completion (projected from CertificateIssued; one per learner and
-- course), the weekly digests sent (one per instructor and ISO week: the row is claimed
-- before the digest is produced, so two replicas never send it twice), and the copy of
-- people's display names kept from identity events for certificates and digests.

CREATE TABLE certificates (
    certificate_id uuid PRIMARY KEY,
    verification_id text NOT NULL UNIQUE,
    learner_id uuid NOT NULL,
    course_id uuid NOT NULL,
    completed_at timestamptz NOT NULL,
    issued_at timestamptz NOT NULL,
    UNIQUE (learner_id, course_id)
);

CREATE TABLE digests (
    instructor_id uuid NOT NULL,
    week text NOT NULL,
    digest_id uuid NOT NULL UNIQUE,
    claimed_at timestamptz NOT NULL,
    sent_at timestamptz,
    PRIMARY KEY (instructor_id, week)
);

CREATE TABLE export_people (
    user_id uuid PRIMARY KEY,
    display_name text NOT NULL,
    role text NOT NULL
);
