-- When the enrollment event a row of ``chat_enrollments`` holds happened. Progress keeps a
-- learner's events in order on the bus, but a replay, a re-drive from the dead-letter topic
-- or a producer bug can bring an older EnrollmentCreated or EnrollmentCancelled after a newer
-- one: the newer one must stay (a learner who left must not be enrolled again by the late
-- arrival of their enrollment). NULL for rows from before this column: any event is newer.
ALTER TABLE chat_enrollments ADD COLUMN changed_at timestamptz;
