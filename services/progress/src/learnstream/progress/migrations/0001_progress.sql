-- The progress service's own tables: the catalog (state-stored courses) and the
-- snapshots of the enrollment aggregates, written in the same transaction as the
-- events they come from.

CREATE TABLE courses (
    course_id uuid PRIMARY KEY,
    instructor_id uuid NOT NULL,
    title text NOT NULL,
    category text NOT NULL,
    difficulty text NOT NULL,
    status text NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    -- the whole definition, answer keys and lesson text included
    definition jsonb NOT NULL,
    lesson_count integer NOT NULL,
    total_duration_seconds integer NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    published_at timestamptz,
    archived_at timestamptz
);
CREATE INDEX courses_by_instructor ON courses (instructor_id, created_at DESC);
CREATE INDEX courses_published ON courses (published_at DESC) WHERE status = 'published';

-- Which course a quiz belongs to (quiz attempts name only the quiz).
CREATE TABLE quiz_index (
    quiz_id uuid PRIMARY KEY,
    course_id uuid NOT NULL REFERENCES courses ON DELETE CASCADE
);

CREATE TABLE enrollments (
    enrollment_id uuid PRIMARY KEY,
    learner_id uuid NOT NULL,
    course_id uuid NOT NULL REFERENCES courses,
    status text NOT NULL CHECK (status IN ('active', 'completed', 'cancelled')),
    version integer NOT NULL,
    enrolled_at timestamptz NOT NULL,
    completed_at timestamptz,
    cancelled_at timestamptz,
    last_accessed_at timestamptz,
    last_lesson_id uuid,
    completion_percentage real NOT NULL DEFAULT 0,
    milestones smallint[] NOT NULL DEFAULT '{}',
    total_seconds bigint NOT NULL DEFAULT 0,
    CONSTRAINT enrollments_one_per_course UNIQUE (learner_id, course_id)
);
CREATE INDEX enrollments_by_course ON enrollments (course_id);

CREATE TABLE lesson_progress (
    enrollment_id uuid NOT NULL REFERENCES enrollments ON DELETE CASCADE,
    lesson_id uuid NOT NULL,
    started_at timestamptz,
    last_viewed_at timestamptz,
    completed_at timestamptz,
    seconds_spent integer NOT NULL DEFAULT 0,
    -- union of watched stretches: [[from, to], ...] in whole seconds, sorted and disjoint
    watched jsonb NOT NULL DEFAULT '[]',
    video_position integer NOT NULL DEFAULT 0,
    video_duration integer NOT NULL DEFAULT 0,
    PRIMARY KEY (enrollment_id, lesson_id)
);

-- The largest cumulative time each viewing session reported: what makes time exact.
CREATE TABLE lesson_views (
    enrollment_id uuid NOT NULL REFERENCES enrollments ON DELETE CASCADE,
    view_id uuid NOT NULL,
    lesson_id uuid NOT NULL,
    seconds integer NOT NULL,
    PRIMARY KEY (enrollment_id, view_id)
);

CREATE TABLE quiz_attempts (
    enrollment_id uuid NOT NULL REFERENCES enrollments ON DELETE CASCADE,
    quiz_id uuid NOT NULL,
    attempt_number integer NOT NULL,
    lesson_id uuid NOT NULL,
    score_percentage real NOT NULL,
    passed boolean NOT NULL,
    answers jsonb NOT NULL,
    results jsonb NOT NULL,
    submitted_at timestamptz NOT NULL,
    PRIMARY KEY (enrollment_id, quiz_id, attempt_number)
);

-- Notes stay here: the bus only carries that a note was written (InstructorNoteAdded).
CREATE TABLE instructor_notes (
    note_id uuid PRIMARY KEY,
    enrollment_id uuid NOT NULL REFERENCES enrollments ON DELETE CASCADE,
    course_id uuid NOT NULL,
    learner_id uuid NOT NULL,
    instructor_id uuid NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX instructor_notes_by_learner ON instructor_notes (course_id, learner_id, created_at DESC);
