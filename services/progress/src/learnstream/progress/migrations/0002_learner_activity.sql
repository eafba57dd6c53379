-- The learner's own activity per quarter hour (UTC), for the dashboard's chart: time
-- spent and lessons completed, added up in the transaction that appends the events, so
-- it is exact. Quarter hours make any local day: every time zone's offset is a multiple
-- of 15 minutes.
CREATE TABLE learner_activity (
    enrollment_id uuid NOT NULL REFERENCES enrollments ON DELETE CASCADE,
    learner_id uuid NOT NULL,
    bucket timestamptz NOT NULL,
    seconds integer NOT NULL DEFAULT 0,
    lessons_completed integer NOT NULL DEFAULT 0,
    PRIMARY KEY (enrollment_id, bucket)
);
CREATE INDEX learner_activity_by_learner ON learner_activity (learner_id, bucket);

-- Activity recorded before this table existed, from the enrollments' events.
INSERT INTO learner_activity (enrollment_id, learner_id, bucket, seconds, lessons_completed)
SELECT e.enrollment_id,
       e.learner_id,
       to_timestamp(floor(extract(epoch FROM s.occurred_at) / 900) * 900),
       coalesce(sum((s.data ->> 'seconds')::integer) FILTER (WHERE s.event_type LIKE '%.LessonTimeTracked.%'), 0),
       count(*) FILTER (WHERE s.event_type LIKE '%.LessonCompleted.%')
FROM event_store s
JOIN enrollments e ON s.stream_id = 'enrollment-' || e.enrollment_id::text
WHERE s.event_type LIKE 'learnstream.progress.LessonTimeTracked.%'
   OR s.event_type LIKE 'learnstream.progress.LessonCompleted.%'
GROUP BY 1, 2, 3;

-- Each learner's time zone, kept from the identity events (local days need it).
CREATE TABLE learner_time_zones (
    learner_id uuid PRIMARY KEY,
    timezone text NOT NULL,
    changed_at timestamptz NOT NULL
);
