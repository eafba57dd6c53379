"""The ClickHouse tables of the analytics service, created by the service at start.

``events`` holds every event as it came off the bus (all CloudEvents attributes and
the JSON data); everything else is derived from it by materialized views, so the
projection writes one table and rebuilding a derived table is re-running its
view's ``SELECT`` over ``events``. ``activity`` has one row per learner event with
the fields the reports need; ``users``, ``courses``, ``outline`` and ``quizzes`` keep
every version of people and courses, and the ``*_profiles`` / ``current_*`` views
give the latest. Every table is a ReplacingMergeTree whose sorting
key ends with the event id: a redelivered event lands on the same key, and queries
read with ``FINAL`` so counts are exact at once, not after background merges.

``course_learners`` is the read model the course reports answer from: one row per learner
and course with what the reports need of their history (enrollments, completions, lessons,
activity by quarter hour, quiz attempts, questions, ratings). It is not a materialized
view: a view sees only the inserted block, and time spent is a sum that a redelivered
event would count twice. The projection re-derives the rows of the learners each batch
touched from ``activity FINAL`` (:func:`learner_model_insert`), in the same write as the
events, so the model is exactly as fresh as ``activity`` and dedup-safe; a row is
replaced whole (ReplacingMergeTree by ``version``).

With a cluster name the same DDL runs ``ON CLUSTER`` with replicated engines (one
shard, every replica holds all data; sharding would need Distributed tables keyed by
learner, which is not built yet). ``docs/analytics.md`` documents the tables
for analysts.
"""

from __future__ import annotations

from dataclasses import dataclass


def _uuid(field: str) -> str:
    return f"toUUIDOrZero(JSONExtractString(data, '{field}'))"


@dataclass(frozen=True)
class Table:
    name: str
    columns: str
    order_by: str
    partition_by: str = ""
    version: str = ""


@dataclass(frozen=True)
class Projection:
    """A materialized view from ``events`` into ``target``: ``columns`` (name → expression)
    selected ``source`` (the FROM, ARRAY JOIN and WHERE clauses, ``{db}`` for the database)."""

    name: str
    target: str
    columns: dict[str, str]
    source: str

    def select(self, database: str) -> str:
        body = ",\n    ".join(f"{expression} AS {column}" for column, expression in self.columns.items())
        return f"SELECT\n    {body}\n{self.source.format(db=f'`{database}`')}"


TABLES: tuple[Table, ...] = (
    Table(
        "events",
        """
        event_id UUID COMMENT 'ce_id: the event id, unique per event',
        type LowCardinality(String) COMMENT 'ce_type, e.g. learnstream.progress.LessonCompleted.v1',
        context LowCardinality(String) COMMENT 'identity, catalog, progress, chat, achievements, exports',
        name LowCardinality(String) COMMENT 'the event name, e.g. LessonCompleted',
        version UInt8 COMMENT 'schema version of the event type',
        source LowCardinality(String) COMMENT 'ce_source: the publishing service',
        subject String COMMENT 'ce_subject: what it is about (learner, course or requester id)',
        time DateTime64(3, 'UTC') COMMENT 'ce_time: when it happened (UTC)',
        spec_version LowCardinality(String) COMMENT 'ce_specversion',
        content_type LowCardinality(String) COMMENT 'content-type of the data',
        traceparent String COMMENT 'W3C trace context of the request that caused it',
        topic LowCardinality(String) COMMENT 'Kafka topic it was read from',
        partition UInt32 COMMENT 'Kafka partition',
        offset UInt64 COMMENT 'Kafka offset (of the copy kept, when delivered twice)',
        data String COMMENT 'the event data as JSON, snake_case keys as in the event catalog',
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'when analytics stored it'
        """,
        order_by="(context, name, time, event_id)",
        partition_by="toYYYYMM(time)",
    ),
    Table(
        "activity",
        """
        event_id UUID,
        name LowCardinality(String) COMMENT 'event name',
        time DateTime64(3, 'UTC'),
        learner_id UUID,
        course_id UUID COMMENT 'zero UUID when the event names no course',
        lesson_id UUID COMMENT 'zero UUID when none',
        view_id UUID COMMENT 'viewing session of a lesson',
        quiz_id UUID,
        session_id UUID COMMENT 'assistant conversation',
        message_id UUID COMMENT 'chat message (question, reply or rated reply)',
        ref_id UUID COMMENT 'enrollment id, replied-to message id or note id',
        seconds UInt32 COMMENT 'LessonTimeTracked: seconds newly spent',
        total_seconds UInt32 COMMENT 'LessonCompleted/CourseCompleted: all seconds spent',
        value Float64 COMMENT 'completion %, quiz score %, watched % or XP amount',
        milestone UInt8 COMMENT 'CourseMilestoneReached: 25, 50 or 75',
        attempt UInt32 COMMENT 'QuizSubmitted: attempt number',
        days UInt32 COMMENT 'CourseCompleted: days from enrollment',
        position UInt32 COMMENT 'VideoProgressed: playback position, seconds',
        duration UInt32 COMMENT 'VideoProgressed: video length, seconds',
        flag UInt8 COMMENT 'passed (quiz), answered (reply) or helpful (rating)',
        ranges Array(Tuple(UInt32, UInt32)) COMMENT 'VideoProgressed: newly watched [from, to) seconds',
        question_ids Array(UUID) COMMENT 'QuizSubmitted: questions in order',
        question_correct Array(UInt8) COMMENT 'QuizSubmitted: 1 where the answer was right',
        latency_ms UInt32 COMMENT 'AssistantReplied: milliseconds to the complete reply',
        tokens UInt32 COMMENT 'AssistantReplied: prompt plus completion tokens',
        text String COMMENT 'ChatMessageSent: the question'
        """,
        order_by="(course_id, learner_id, time, event_id)",
        partition_by="toYYYYMM(time)",
    ),
    Table(
        "users",
        """
        user_id UUID,
        time DateTime64(3, 'UTC'),
        event_id UUID,
        role LowCardinality(String) COMMENT 'empty when the event did not change it',
        display_name String COMMENT 'empty when the event did not change it',
        timezone LowCardinality(String) COMMENT 'IANA time zone; empty when unchanged'
        """,
        order_by="(user_id, time, event_id)",
    ),
    Table(
        "courses",
        """
        course_id UUID,
        time DateTime64(3, 'UTC'),
        event_id UUID,
        name LowCardinality(String) COMMENT 'the catalog event name',
        instructor_id UUID,
        title String,
        category LowCardinality(String),
        difficulty LowCardinality(String)
        """,
        order_by="(course_id, time, event_id)",
    ),
    Table(
        "outline",
        """
        course_id UUID,
        structure_time DateTime64(3, 'UTC') COMMENT 'when this version of the outline was published',
        structure_event_id UUID COMMENT 'the CourseStructureChanged event of this version',
        section_id UUID,
        section_title String,
        section_order UInt32,
        lesson_id UUID,
        lesson_title String,
        lesson_order UInt32,
        content_type LowCardinality(String) COMMENT 'video, article or quiz',
        duration UInt32 COMMENT 'seconds'
        """,
        order_by="(course_id, structure_time, structure_event_id, lesson_id)",
    ),
    Table(
        "quizzes",
        """
        course_id UUID,
        structure_time DateTime64(3, 'UTC'),
        structure_event_id UUID,
        quiz_id UUID,
        lesson_id UUID,
        question_ids Array(UUID),
        passing_score UInt8
        """,
        order_by="(course_id, structure_time, structure_event_id, quiz_id)",
    ),
    Table(
        "erasures",
        """
        user_id UUID,
        request_id UUID,
        time DateTime64(3, 'UTC'),
        event_id UUID
        """,
        order_by="(user_id, event_id)",
    ),
)


ACTIVITY_EVENTS = (
    "EnrollmentCreated",
    "EnrollmentCancelled",
    "LessonStarted",
    "LessonTimeTracked",
    "VideoProgressed",
    "LessonCompleted",
    "QuizSubmitted",
    "CourseMilestoneReached",
    "CourseCompleted",
    "InstructorNoteAdded",
    "ChatSessionStarted",
    "ChatMessageSent",
    "AssistantReplied",
    "AssistantReplyRated",
    "ChatSessionDeleted",
    "XpAwarded",
)
"""The learner events ``activity`` holds, one row each."""


def _from(*names: str) -> str:
    listed = ", ".join(f"'{name}'" for name in names)
    return f"FROM {{db}}.events\nWHERE name IN ({listed})"


def _first_uuid(*fields: str) -> str:
    """The first of ``fields`` the event has, as a UUID (events name their reference differently)."""
    found = ", ".join(f"JSONExtractString(data, '{field}')" for field in fields)
    return f"toUUIDOrZero(arrayFirst(x -> x != '', [{found}]))"


# One view for every learner event: every insert runs each view once, so a view per
# event type would multiply the cost of a batch by the number of types. Fields keep
# their catalog names, so most columns are the same extraction for every event.
PROJECTIONS: tuple[Projection, ...] = (
    Projection(
        "activity_mv",
        "activity",
        {
            "event_id": "event_id",
            "name": "name",
            "time": "time",
            "learner_id": _uuid("learner_id"),
            "course_id": _uuid("course_id"),
            "lesson_id": _uuid("lesson_id"),
            "view_id": _uuid("view_id"),
            "quiz_id": _uuid("quiz_id"),
            "session_id": _uuid("session_id"),
            "message_id": _uuid("message_id"),
            "ref_id": _first_uuid("enrollment_id", "reply_to_message_id", "note_id"),
            "seconds": "JSONExtractUInt(data, 'seconds')",
            "total_seconds": "JSONExtractUInt(data, 'total_seconds_spent')",
            "value": (
                "multiIf(name = 'VideoProgressed', JSONExtractFloat(data, 'watched_percentage'),"
                " name = 'QuizSubmitted', JSONExtractFloat(data, 'score_percentage'),"
                " name = 'XpAwarded', JSONExtractFloat(data, 'amount'),"
                " JSONExtractFloat(data, 'completion_percentage'))"
            ),
            "milestone": "JSONExtractUInt(data, 'milestone')",
            "attempt": "JSONExtractUInt(data, 'attempt_number')",
            "days": "JSONExtractUInt(data, 'days_to_complete')",
            "position": "JSONExtractUInt(data, 'position_seconds')",
            "duration": "JSONExtractUInt(data, 'duration_seconds')",
            "flag": (
                "JSONExtractBool(data, 'passed') OR JSONExtractBool(data, 'answered')"
                " OR JSONExtractBool(data, 'helpful')"
            ),
            "ranges": (
                "arrayMap(r -> (toUInt32(JSONExtractUInt(r, 'from_seconds')),"
                " toUInt32(JSONExtractUInt(r, 'to_seconds'))),"
                " JSONExtractArrayRaw(data, 'watched_ranges'))"
            ),
            "question_ids": (
                "arrayMap(q -> toUUIDOrZero(JSONExtractString(q, 'question_id')),"
                " JSONExtractArrayRaw(data, 'question_results'))"
            ),
            "question_correct": (
                "arrayMap(q -> toUInt8(JSONExtractBool(q, 'correct')),"
                " JSONExtractArrayRaw(data, 'question_results'))"
            ),
            "latency_ms": "JSONExtractUInt(data, 'latency_ms')",
            "tokens": "JSONExtractUInt(data, 'prompt_tokens') + JSONExtractUInt(data, 'completion_tokens')",
            "text": "if(name = 'ChatMessageSent', JSONExtractString(data, 'text'), '')",
        },
        _from(*ACTIVITY_EVENTS),
    ),
    Projection(
        "users_mv",
        "users",
        {
            "user_id": _uuid("user_id"),
            "time": "time",
            "event_id": "event_id",
            "role": "JSONExtractString(data, 'role')",
            "display_name": "JSONExtractString(data, 'display_name')",
            "timezone": "JSONExtractString(data, 'timezone')",
        },
        _from("UserRegistered", "UserProfileChanged"),
    ),
    Projection(
        "courses_mv",
        "courses",
        {
            "course_id": _uuid("course_id"),
            "time": "time",
            "event_id": "event_id",
            "name": "name",
            "instructor_id": _uuid("instructor_id"),
            "title": "JSONExtractString(data, 'title')",
            "category": "JSONExtractString(data, 'category')",
            "difficulty": "JSONExtractString(data, 'difficulty')",
        },
        _from("CourseCreated", "CoursePublished", "CourseArchived", "CourseDetailsChanged"),
    ),
    Projection(
        "outline_mv",
        "outline",
        {
            "course_id": _uuid("course_id"),
            "structure_time": "time",
            "structure_event_id": "event_id",
            "section_id": "toUUIDOrZero(JSONExtractString(section, 'section_id'))",
            "section_title": "JSONExtractString(section, 'title')",
            "section_order": "toUInt32(JSONExtractUInt(section, 'order'))",
            "lesson_id": "toUUIDOrZero(JSONExtractString(lesson, 'lesson_id'))",
            "lesson_title": "JSONExtractString(lesson, 'title')",
            "lesson_order": "toUInt32(JSONExtractUInt(lesson, 'order'))",
            "content_type": "JSONExtractString(lesson, 'content_type')",
            "duration": "toUInt32(JSONExtractUInt(lesson, 'duration_seconds'))",
        },
        "FROM {db}.events\n"
        "ARRAY JOIN JSONExtractArrayRaw(data, 'sections') AS section\n"
        "ARRAY JOIN JSONExtractArrayRaw(section, 'lessons') AS lesson\n"
        "WHERE name = 'CourseStructureChanged'",
    ),
    Projection(
        "quizzes_mv",
        "quizzes",
        {
            "course_id": _uuid("course_id"),
            "structure_time": "time",
            "structure_event_id": "event_id",
            "quiz_id": "toUUIDOrZero(JSONExtractString(quiz, 'quiz_id'))",
            "lesson_id": "toUUIDOrZero(JSONExtractString(quiz, 'lesson_id'))",
            "question_ids": (
                "arrayMap(q -> toUUIDOrZero(q), JSONExtract(quiz, 'question_ids', 'Array(String)'))"
            ),
            "passing_score": "toUInt8(JSONExtractUInt(quiz, 'passing_score'))",
        },
        "FROM {db}.events\n"
        "ARRAY JOIN JSONExtractArrayRaw(data, 'quizzes') AS quiz\n"
        "WHERE name = 'CourseStructureChanged'",
    ),
    Projection(
        "erasures_mv",
        "erasures",
        {
            "user_id": _uuid("user_id"),
            "request_id": _uuid("request_id"),
            "time": "time",
            "event_id": "event_id",
        },
        _from("LearnerErasureRequested"),
    ),
)

VIEWS: tuple[tuple[str, str], ...] = (
    (
        "user_profiles",
        """SELECT
    user_id,
    argMaxIf(role, (time, event_id), role != '') AS role,
    argMaxIf(display_name, (time, event_id), display_name != '') AS display_name,
    if(argMaxIf(timezone, (time, event_id), timezone != '') = '', 'UTC',
       argMaxIf(timezone, (time, event_id), timezone != '')) AS timezone
FROM {db}.users FINAL
GROUP BY user_id""",
    ),
    (
        "course_profiles",
        """SELECT
    course_id,
    argMax(instructor_id, (time, event_id)) AS instructor_id,
    argMax(title, (time, event_id)) AS title,
    argMax(category, (time, event_id)) AS category,
    argMax(difficulty, (time, event_id)) AS difficulty,
    argMaxIf(multiIf(name = 'CourseArchived', 'archived', name = 'CoursePublished', 'published', 'draft'),
             (time, multiIf(name = 'CourseArchived', 2, name = 'CoursePublished', 1, 0)),
             name != 'CourseDetailsChanged') AS status,
    min(time) AS created_at
FROM {db}.courses FINAL
GROUP BY course_id""",
    ),
    (
        "current_lessons",
        """SELECT
    course_id,
    section_id,
    section_title,
    section_order,
    lesson_id,
    lesson_title,
    lesson_order,
    content_type,
    duration,
    row_number() OVER (PARTITION BY course_id ORDER BY section_order, lesson_order, lesson_id) - 1 AS position
FROM {db}.outline FINAL
WHERE (course_id, structure_event_id) IN (
    SELECT course_id, argMax(structure_event_id, (structure_time, structure_event_id))
    FROM {db}.outline FINAL
    GROUP BY course_id
)""",
    ),
    (
        "current_quizzes",
        """SELECT course_id, quiz_id, lesson_id, question_ids, passing_score
FROM {db}.quizzes FINAL
WHERE (course_id, structure_event_id) IN (
    SELECT course_id, argMax(structure_event_id, (structure_time, structure_event_id))
    FROM {db}.outline FINAL
    GROUP BY course_id
)""",
    ),
)


LEARNER_MODEL = "course_learners"
LEARNER_MODEL_COLUMNS = """
    course_id UUID,
    learner_id UUID,
    version UInt64 COMMENT 'when the row was derived (microseconds); the newest row of a learner wins',
    first_event DateTime64(3, 'UTC') COMMENT 'their first event in the course',
    last_event DateTime64(3, 'UTC') COMMENT 'their latest event in the course',
    enrollments Array(Tuple(time DateTime64(3, 'UTC'), cancelled UInt8))
        COMMENT 'EnrollmentCreated (0) and EnrollmentCancelled (1), in time order',
    enrolled UInt8 COMMENT 'enrolled now: the latest of those is an enrollment',
    first_enrolled Nullable(DateTime64(3, 'UTC')),
    course_completions Array(Tuple(time DateTime64(3, 'UTC'), days UInt32))
        COMMENT 'CourseCompleted, in time order',
    completed_at Nullable(DateTime64(3, 'UTC')) COMMENT 'the first CourseCompleted',
    lesson_completions Array(Tuple(time DateTime64(3, 'UTC'), progress Float64))
        COMMENT 'LessonCompleted: when, and the course completion % it brought, in (time, %) order',
    progress Float64 COMMENT 'course completion % now (100 once completed)',
    last_completion Nullable(DateTime64(3, 'UTC')) COMMENT 'the latest LessonCompleted',
    done_lessons Array(UUID) COMMENT 'lessons completed',
    milestone UInt8 COMMENT 'highest CourseMilestoneReached',
    first_started Nullable(DateTime64(3, 'UTC')) COMMENT 'the first LessonStarted',
    started_lessons UInt32 COMMENT 'lessons started',
    lessons Tuple(ids Array(UUID), views Array(UInt32), seconds Array(UInt64))
        COMMENT 'the lessons they viewed, with their viewing sessions and seconds spent on each',
    first_active Nullable(DateTime64(3, 'UTC')) COMMENT 'the first learning activity (see docs)',
    last_active Nullable(DateTime64(3, 'UTC')) COMMENT 'the latest learning activity',
    seconds UInt64 COMMENT 'seconds spent in the course',
    slots Tuple(starts Array(DateTime('UTC')), events Array(UInt64), seconds Array(UInt64))
        COMMENT 'learning activity per quarter hour (UTC): events and seconds spent',
    quizzes Array(Tuple(quiz UUID, fails UInt32, last_fail DateTime64(3, 'UTC'),
                        passes UInt32, last_pass DateTime64(3, 'UTC')))
        COMMENT 'per quiz attempted: failed attempts, the latest failure, passed attempts, the latest pass',
    questions Array(Tuple(time DateTime64(3, 'UTC'), event_id UUID, lesson UUID, text String,
                          words Array(String)))
        COMMENT 'questions to the assistant, in time order, with their distinct words of 3 letters or more',
    replies Array(Tuple(time DateTime64(3, 'UTC'), answered UInt8)),
    ratings Array(Tuple(time DateTime64(3, 'UTC'), message UUID, helpful UInt8))
"""
LEARNER_ACTIVITY = (
    "LessonStarted",
    "LessonTimeTracked",
    "VideoProgressed",
    "LessonCompleted",
    "QuizSubmitted",
    "ChatMessageSent",
)
"""What counts as learning activity (``base.ACTIVITY`` of the reports, the same list)."""
EPOCH = "toDateTime64(0, 3, 'UTC')"
"""Stands in for a moment that has not come (a NULL of the model) when it must compare earlier."""
SLOT_SECONDS = 900
"""The model keeps activity per quarter hour: every time zone's midnight falls on one, so a
report window that starts at local midnight is a whole number of slots."""


def learner_model_select(database: str, where: str = "1") -> str:
    """The ``course_learners`` rows of the (course, learner) pairs of ``activity`` matching
    ``where``, derived from their whole history (``FINAL``: each event once): what is
    gathered per learner, then shaped into the table's columns, in the table's order."""
    activity = ", ".join(f"'{name}'" for name in LEARNER_ACTIVITY)
    return f"""SELECT
    course_id,
    learner_id,
    toUInt64(toUnixTimestamp64Micro(now64(6))) AS version,
    first_event,
    last_event,
    enrollments,
    notEmpty(enrollments) AND enrollments[-1].2 = 0 AS enrolled,
    first_enrolled,
    course_completions,
    completed_at,
    lesson_completions,
    if(notEmpty(course_completions), 100., if(empty(lesson_completions), 0., lesson_completions[-1].2))
        AS progress,
    last_completion,
    done_lessons,
    highest_milestone AS milestone,
    first_started,
    started_lessons,
    (arraySort(arrayDistinct(arrayMap(x -> x.1, viewed))) AS viewed_lessons,
     arrayMap(l -> toUInt32(arrayCount(x -> x.1 = l, viewed)), viewed_lessons),
     arrayMap(l -> spent.2[indexOf(spent.1, l)], viewed_lessons)) AS lessons,
    first_active,
    last_active,
    seconds_spent AS seconds,
    slots,
    arrayMap(quiz -> (quiz,
                      toUInt32(arrayCount(x -> x.2 = quiz AND x.3 = 0, quiz_attempts)),
                      arrayMax(x -> if(x.2 = quiz AND x.3 = 0, x.1, {EPOCH}), quiz_attempts),
                      toUInt32(arrayCount(x -> x.2 = quiz AND x.3 = 1, quiz_attempts)),
                      arrayMax(x -> if(x.2 = quiz AND x.3 = 1, x.1, {EPOCH}), quiz_attempts)),
             arraySort(arrayDistinct(arrayMap(x -> x.2, quiz_attempts)))) AS quizzes,
    arrayMap(q -> (q.1, q.2, q.3, q.4, arrayDistinct(arrayFilter(w -> lengthUTF8(w) >= 3,
                                                                 extractAll(lowerUTF8(q.4), '\\p{{L}}+')))),
             asked) AS questions,
    replies,
    ratings
FROM (
    SELECT
        course_id,
        learner_id,
        min(time) AS first_event,
        max(time) AS last_event,
        arraySort(groupArrayIf((time, toUInt8(name = 'EnrollmentCancelled')),
                               name IN ('EnrollmentCreated', 'EnrollmentCancelled'))) AS enrollments,
        minIf(toNullable(time), name = 'EnrollmentCreated') AS first_enrolled,
        arraySort(groupArrayIf((time, days), name = 'CourseCompleted')) AS course_completions,
        minIf(toNullable(time), name = 'CourseCompleted') AS completed_at,
        arraySort(groupArrayIf((time, value), name = 'LessonCompleted')) AS lesson_completions,
        maxIf(toNullable(time), name = 'LessonCompleted') AS last_completion,
        groupUniqArrayIf(lesson_id, name = 'LessonCompleted') AS done_lessons,
        maxIf(milestone, name = 'CourseMilestoneReached') AS highest_milestone,
        minIf(toNullable(time), name = 'LessonStarted') AS first_started,
        uniqExactIf(lesson_id, name = 'LessonStarted') AS started_lessons,
        groupUniqArrayIf((lesson_id, view_id),
                         name IN ('LessonStarted', 'LessonTimeTracked', 'VideoProgressed')) AS viewed,
        sumMapIf(([lesson_id], [toUInt64(seconds)]), name = 'LessonTimeTracked') AS spent,
        minIf(toNullable(time), name IN ({activity})) AS first_active,
        maxIf(toNullable(time), name IN ({activity})) AS last_active,
        sumIf(seconds, name = 'LessonTimeTracked') AS seconds_spent,
        sumMapIf(([toDateTime(toStartOfInterval(time, INTERVAL {SLOT_SECONDS} SECOND), 'UTC')], [toUInt64(1)],
                  [toUInt64(if(name = 'LessonTimeTracked', seconds, 0))]),
                 name IN ({activity})) AS slots,
        arraySort(groupArrayIf((time, quiz_id, flag), name = 'QuizSubmitted')) AS quiz_attempts,
        arraySort(groupArrayIf((time, event_id, lesson_id, text), name = 'ChatMessageSent')) AS asked,
        groupArrayIf((time, flag), name = 'AssistantReplied') AS replies,
        groupArrayIf((time, message_id, flag), name = 'AssistantReplyRated') AS ratings
    FROM `{database}`.activity FINAL
    WHERE learner_id != toUUID('00000000-0000-0000-0000-000000000000')
      AND course_id != toUUID('00000000-0000-0000-0000-000000000000') AND ({where})
    GROUP BY course_id, learner_id
)"""


def learner_model_insert(database: str, where: str = "1") -> str:
    """Re-derive the ``course_learners`` rows of the pairs matching ``where`` (see
    :func:`learner_model_select`); the new rows replace the old ones."""
    return (
        f"INSERT INTO `{database}`.{LEARNER_MODEL}\n{learner_model_select(database, where)}"
        "\nSETTINGS insert_deduplicate = 0"
    )


def ddl(database: str, cluster: str = "") -> list[str]:
    """Every statement that creates the schema, in order; each is idempotent."""
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    statements = []
    for table in TABLES:
        path = f"/clickhouse/tables/{{shard}}/{database}/{table.name}"
        engine = f"ReplicatedReplacingMergeTree('{path}', '{{replica}}')" if cluster else "ReplacingMergeTree"
        partition = f"\nPARTITION BY {table.partition_by}" if table.partition_by else ""
        statements.append(
            f"CREATE TABLE IF NOT EXISTS `{database}`.{table.name}{on_cluster} ({table.columns})\n"
            f"ENGINE = {engine}{partition}\nORDER BY {table.order_by}"
        )
    model_path = f"/clickhouse/tables/{{shard}}/{database}/{LEARNER_MODEL}"
    model_engine = (
        f"ReplicatedReplacingMergeTree('{model_path}', '{{replica}}', version)"
        if cluster
        else "ReplacingMergeTree(version)"
    )
    statements.append(
        f"CREATE TABLE IF NOT EXISTS `{database}`.{LEARNER_MODEL}{on_cluster} ({LEARNER_MODEL_COLUMNS})\n"
        f"ENGINE = {model_engine}\nORDER BY (course_id, learner_id)"
    )
    for projection in PROJECTIONS:
        statements.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{database}`.{projection.name}{on_cluster}"
            f" TO `{database}`.{projection.target} AS\n{projection.select(database)}"
        )
    for name, select in VIEWS:
        statements.append(
            f"CREATE OR REPLACE VIEW `{database}`.{name}{on_cluster} AS\n{select.format(db=f'`{database}`')}"
        )
    return statements


DERIVED_TABLES: tuple[str, ...] = (*(table.name for table in TABLES if table.name != "events"), LEARNER_MODEL)
"""Tables rebuilt from ``events``."""


def rebuild_statements(database: str) -> list[str]:
    """Re-derive every table from ``events``: empty them, then re-run each view's SELECT.

    Truncation replicates by itself on replicated tables; the inserts switch off the
    replicated block deduplication, which would otherwise skip a second identical rebuild.
    """
    statements = [f"TRUNCATE TABLE IF EXISTS `{database}`.{table}" for table in DERIVED_TABLES]
    for projection in PROJECTIONS:
        columns = ", ".join(projection.columns)
        statements.append(
            f"INSERT INTO `{database}`.{projection.target} ({columns})\n{projection.select(database)}"
            "\nSETTINGS insert_deduplicate = 0"
        )
    statements.append(learner_model_insert(database))
    return statements
