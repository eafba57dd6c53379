-- The achievements service's state. The XP ledger is the truth for XP, levels and the
-- leaderboards (Redis sorted sets are rebuilt from it); the facts tables keep what the
-- criteria are measured in, each row keyed so that an event applied twice changes nothing.
-- Everything a learner earns is also published from the ``achievements-<learner id>``
-- stream in event_store.

-- One row per learner: the running totals, and the lock every change to the learner
-- takes first (events of one learner arrive on several topics).
CREATE TABLE learners (
    learner_id uuid PRIMARY KEY,
    display_name text,
    xp integer NOT NULL DEFAULT 0,
    level integer NOT NULL DEFAULT 0,
    -- the run of active days ending on last_active_date, and the longest run ever
    streak_days integer NOT NULL DEFAULT 0,
    longest_streak_days integer NOT NULL DEFAULT 0,
    last_active_date date,
    -- set once StreakBroken was published for the run ending on last_active_date
    streak_broken boolean NOT NULL DEFAULT false,
    questions_asked integer NOT NULL DEFAULT 0
);
-- the daily check looks for runs that have ended
CREATE INDEX learners_running_streaks ON learners (last_active_date) WHERE streak_days > 0 AND NOT streak_broken;

-- Append-only: one row per rule and subject (a lesson, a quiz, a course, a local day), naming
-- the event that earned it, so no redelivery or repeated event can award twice.
CREATE TABLE xp_ledger (
    learner_id uuid NOT NULL,
    award_key text NOT NULL,
    reason text NOT NULL,
    amount integer NOT NULL CHECK (amount > 0),
    caused_by_event_id uuid NOT NULL,
    course_id uuid,
    -- when the learner did it (the cause's occurred_at): the leaderboard period it counts in
    awarded_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (learner_id, award_key)
);
CREATE INDEX xp_ledger_by_learner_time ON xp_ledger (learner_id, awarded_at);
CREATE INDEX xp_ledger_by_time ON xp_ledger (awarded_at);
CREATE INDEX xp_ledger_by_recording ON xp_ledger (recorded_at);

-- Local calendar days (the learner's time zone) with learning in them.
CREATE TABLE learner_days (
    learner_id uuid NOT NULL,
    local_date date NOT NULL,
    seconds integer NOT NULL DEFAULT 0,
    lessons_completed integer NOT NULL DEFAULT 0,
    quizzes_submitted integer NOT NULL DEFAULT 0,
    active boolean NOT NULL DEFAULT false,
    PRIMARY KEY (learner_id, local_date)
);

-- First completion of each lesson, with the local hour (night owl, early bird).
CREATE TABLE learner_lessons (
    learner_id uuid NOT NULL,
    lesson_id uuid NOT NULL,
    course_id uuid NOT NULL,
    completed_at timestamptz NOT NULL,
    local_hour smallint NOT NULL CHECK (local_hour BETWEEN 0 AND 23),
    PRIMARY KEY (learner_id, lesson_id)
);

CREATE TABLE learner_courses (
    learner_id uuid NOT NULL,
    course_id uuid NOT NULL,
    enrolled_at timestamptz,
    completed_at timestamptz,
    days_to_complete integer,
    PRIMARY KEY (learner_id, course_id)
);

CREATE TABLE learner_quizzes (
    learner_id uuid NOT NULL,
    quiz_id uuid NOT NULL,
    best_score real NOT NULL,
    passed_at timestamptz,
    perfect_at timestamptz,
    PRIMARY KEY (learner_id, quiz_id)
);

CREATE TABLE earned_achievements (
    learner_id uuid NOT NULL,
    achievement_id text NOT NULL,
    earned_at timestamptz NOT NULL,
    course_id uuid,
    caused_by_event_id uuid NOT NULL,
    -- false until a track-lesson answer has told the learner (newAchievements)
    announced boolean NOT NULL DEFAULT false,
    PRIMARY KEY (learner_id, achievement_id)
);
CREATE INDEX earned_unannounced ON earned_achievements (learner_id) WHERE NOT announced;

-- From the catalog: each course's category and status (subject master).
CREATE TABLE courses (
    course_id uuid PRIMARY KEY,
    category text NOT NULL,
    status text NOT NULL CHECK (status IN ('draft', 'published', 'archived'))
);
CREATE INDEX courses_by_category ON courses (category) WHERE status = 'published';

CREATE TABLE learner_time_zones (
    learner_id uuid PRIMARY KEY,
    timezone text NOT NULL,
    changed_at timestamptz NOT NULL
);
