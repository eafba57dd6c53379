-- The exports service's read models. An export is an event-sourced stream
-- (``export-<export id>`` in event_store: ExportRequested, then ExportCompleted or
-- ExportFailed); export_jobs is its projection, written in the transaction that appends
-- the events, and it is the audit log of every export. The course copy is kept from the
-- catalog's events, so a request for a course the requester does not own is refused
-- at once.

CREATE TABLE export_jobs (
    export_id uuid PRIMARY KEY,
    requester_id uuid NOT NULL,
    requester_role text NOT NULL,
    export_type text NOT NULL,
    format text NOT NULL,
    course_id uuid,
    -- sections, dateRange and filters as asked
    request jsonb NOT NULL,
    -- queued -> running -> completed | failed; completed -> expired once the file is deleted
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    row_count integer,
    size_bytes bigint,
    file_key text,
    file_name text,
    error text,
    requested_at timestamptz NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    expires_at timestamptz,
    deleted_at timestamptz,
    version integer NOT NULL
);
CREATE INDEX export_jobs_by_requester ON export_jobs (requester_id, requested_at DESC, export_id);
CREATE INDEX export_jobs_by_time ON export_jobs (requested_at DESC, export_id);
CREATE INDEX export_jobs_to_clean ON export_jobs (expires_at) WHERE status = 'completed';

CREATE TABLE export_courses (
    course_id uuid PRIMARY KEY,
    instructor_id uuid NOT NULL,
    title text NOT NULL,
    status text NOT NULL DEFAULT 'draft'
);
CREATE INDEX export_courses_by_instructor ON export_courses (instructor_id);
