-- The chat service's read models. A conversation is an event-sourced stream
-- (``chat-<session id>`` in event_store); these tables are its projection, written in
-- the transaction that appends the events. The copies of courses, lesson text,
-- enrollments and time zones are kept from other contexts' events.

-- Text is searched (and excerpts are cut) HTML-escaped: PostgreSQL's parser reads markup
-- as tags and leaves it out, so a question about "<div>" could not be found by "div";
-- escaped, it can, and the excerpt is safe HTML once the matching words are marked.
CREATE FUNCTION chat_html_escaped(content text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN replace(replace(replace(content, '&', '&amp;'), '<', '&lt;'), '>', '&gt;');

CREATE TABLE chat_sessions (
    session_id uuid PRIMARY KEY,
    learner_id uuid NOT NULL,
    course_id uuid NOT NULL,
    lesson_id uuid,
    -- null until the first question (then its first 50 characters) unless renamed
    title text,
    title_is_custom boolean NOT NULL DEFAULT false,
    message_count integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    last_message_at timestamptz,
    -- newest activity first: the last message, or the start of an empty conversation
    last_activity_at timestamptz NOT NULL,
    version integer NOT NULL,
    title_search tsvector GENERATED ALWAYS AS (to_tsvector('english', chat_html_escaped(coalesce(title, '')))) STORED,
    -- the words of every message, without positions (so it stays small however long the
    -- conversation): the conversation-level search reads one row per conversation
    messages_search tsvector NOT NULL DEFAULT ''
);
CREATE INDEX chat_sessions_by_activity ON chat_sessions (learner_id, last_activity_at DESC, session_id);
CREATE INDEX chat_sessions_by_course ON chat_sessions (learner_id, course_id, last_activity_at DESC, session_id);
CREATE INDEX chat_sessions_title_search ON chat_sessions USING gin (title_search);
CREATE INDEX chat_sessions_messages_search ON chat_sessions USING gin (messages_search);

CREATE TABLE chat_messages (
    message_id uuid PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES chat_sessions ON DELETE CASCADE,
    learner_id uuid NOT NULL,
    role text NOT NULL CHECK (role IN ('user', 'assistant')),
    content text NOT NULL,
    created_at timestamptz NOT NULL,
    -- assistant replies only
    reply_to uuid,
    answered boolean,
    model text,
    helpful boolean,
    search tsvector GENERATED ALWAYS AS (to_tsvector('english', chat_html_escaped(content))) STORED
);
CREATE INDEX chat_messages_by_session ON chat_messages (session_id, created_at, message_id);
-- the per-learner send rate counts the learner's questions of the last minute
CREATE INDEX chat_messages_questions ON chat_messages (learner_id, created_at) WHERE role = 'user';
-- message search walks the learner's messages newest first when a word is common
CREATE INDEX chat_messages_by_learner ON chat_messages (learner_id, created_at DESC);
CREATE INDEX chat_messages_search ON chat_messages USING gin (search);

CREATE TABLE chat_courses (
    course_id uuid PRIMARY KEY,
    instructor_id uuid NOT NULL,
    title text NOT NULL,
    status text NOT NULL CHECK (status IN ('draft', 'published', 'archived'))
);

-- Lesson text cut into passages, the assistant's source (LessonContentChanged).
CREATE TABLE lesson_passages (
    course_id uuid NOT NULL,
    lesson_id uuid NOT NULL,
    position integer NOT NULL,
    lesson_title text NOT NULL,
    body text NOT NULL,
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', chat_html_escaped(lesson_title)), 'A')
        || to_tsvector('english', chat_html_escaped(body))
    ) STORED,
    PRIMARY KEY (lesson_id, position)
);
CREATE INDEX lesson_passages_by_course ON lesson_passages (course_id);
CREATE INDEX lesson_passages_search ON lesson_passages USING gin (search);

CREATE TABLE chat_enrollments (
    learner_id uuid NOT NULL,
    course_id uuid NOT NULL,
    active boolean NOT NULL,
    PRIMARY KEY (learner_id, course_id)
);

CREATE TABLE learner_time_zones (
    learner_id uuid PRIMARY KEY,
    timezone text NOT NULL,
    changed_at timestamptz NOT NULL
);
