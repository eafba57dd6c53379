"""Courses: creating one from an instructor's draft, editing its outline, publishing and archiving."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from learnstream.events import DomainEvent
from learnstream.events.catalog import (
    CourseArchived,
    CourseCreated,
    CourseDetailsChanged,
    CoursePublished,
    CourseStructureChanged,
    LessonContentChanged,
)
from learnstream.progress.domain.catalog import (
    Course,
    CourseDraft,
    LessonDraft,
    QuestionDraft,
    QuizDraft,
    SectionDraft,
    archive,
    create_course,
    ensure_enrollable,
    publish,
    replace_outline,
)
from learnstream.progress.domain.errors import Conflict, InvalidInput

CREATED_AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
EDITED_AT = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
PUBLISHED_AT = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
ARCHIVED_AT = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)


def draft_of(course: Course) -> CourseDraft:
    """The draft an instructor's editor sends back for ``course``: everything, with its ids."""
    return CourseDraft(
        title=course.title,
        description=course.description,
        category=course.category,
        difficulty=course.difficulty,
        sections=tuple(
            SectionDraft(
                section.title,
                tuple(
                    LessonDraft(
                        lesson.title,
                        lesson.content_type,
                        lesson.duration_seconds,
                        body=lesson.body,
                        quiz=None
                        if lesson.quiz is None
                        else QuizDraft(
                            lesson.quiz.passing_score,
                            tuple(
                                QuestionDraft(q.text, q.options, q.correct_index, id=q.question_id)
                                for q in lesson.quiz.questions
                            ),
                            max_attempts=lesson.quiz.max_attempts,
                            id=lesson.quiz.quiz_id,
                        ),
                        id=lesson.lesson_id,
                    )
                    for lesson in section.lessons
                ),
                id=section.section_id,
            )
            for section in course.sections
        ),
    )


def with_lesson(draft: CourseDraft, section: int, lesson: int, **changes: object) -> CourseDraft:
    """``draft`` with one lesson changed."""
    sections = list(draft.sections)
    lessons = list(sections[section].lessons)
    lessons[lesson] = dataclasses.replace(lessons[lesson], **changes)  # type: ignore[arg-type]
    sections[section] = dataclasses.replace(sections[section], lessons=tuple(lessons))
    return dataclasses.replace(draft, sections=tuple(sections))


def problems(draft: CourseDraft, course: Course | None = None) -> dict[str, str]:
    """The field errors ``draft`` is refused with, by path: on create, or on replace of ``course``."""
    if course is None:
        with pytest.raises(InvalidInput) as refused:
            create_course(draft, instructor_id=uuid4(), at=CREATED_AT)
    else:
        with pytest.raises(InvalidInput) as refused:
            replace_outline(course, draft, actor_id=course.instructor_id, at=EDITED_AT)
    return {error.field: error.message for error in refused.value.errors}


# --- create -----------------------------------------------------------------------------------


def test_creating_a_course_gives_every_item_its_own_id(
    course_draft: CourseDraft, instructor_id: UUID
) -> None:
    course, _ = create_course(course_draft, instructor_id=instructor_id, at=CREATED_AT)

    sections = [section.section_id for section in course.sections]
    lessons = [lesson.lesson_id for lesson in course.lessons()]
    (quiz,) = course.quizzes()
    questions = [question.question_id for question in quiz.questions]
    ids = [course.course_id, *sections, *lessons, quiz.quiz_id, *questions]
    assert all(isinstance(id_, UUID) for id_ in ids)
    assert len(set(ids)) == len(ids) == 1 + 2 + 4 + 1 + 2
    assert [lesson.title for lesson in course.lessons()] == [
        "Welcome",
        "Variables",
        "Check yourself",
        "For loops",
    ]
    assert all(
        lesson.section_id == section.section_id for section in course.sections for lesson in section.lessons
    )
    assert quiz.lesson_id == lessons[2]
    assert course.quiz(quiz.quiz_id) == quiz
    assert course.status == "draft"
    assert course.instructor_id == instructor_id
    assert course.lesson_count == 4
    assert course.total_duration_seconds == 600 + 300 + 120 + 300


def test_creating_a_course_announces_it_its_outline_and_the_text_of_its_lessons(
    course_draft: CourseDraft, instructor_id: UUID
) -> None:
    course, events = create_course(course_draft, instructor_id=instructor_id, at=CREATED_AT)

    assert [type(event) for event in events] == [
        CourseCreated,
        CourseStructureChanged,
        LessonContentChanged,
        LessonContentChanged,
        LessonContentChanged,
    ]
    created = events[0]
    assert isinstance(created, CourseCreated)
    assert (
        created.course_id,
        created.instructor_id,
        created.title,
        created.category,
        created.difficulty,
    ) == (
        course.course_id,
        instructor_id,
        "Python 101",
        "programming",
        "beginner",
    )
    assert all(event.occurred_at == CREATED_AT for event in events)
    assert all(event.actor_id == instructor_id for event in events)
    welcome, variables, _quiz, for_loops = course.lessons()
    texts = {(e.lesson_id, e.title, e.text) for e in events if isinstance(e, LessonContentChanged)}
    assert texts == {
        (welcome.lesson_id, "Welcome", "Hello and welcome to Python."),
        (variables.lesson_id, "Variables", "A variable names a value."),
        (for_loops.lesson_id, "For loops", "A for loop repeats."),
    }


def test_the_published_outline_is_ordered_and_holds_no_answer_key(
    course_draft: CourseDraft, instructor_id: UUID
) -> None:
    course, events = create_course(course_draft, instructor_id=instructor_id, at=CREATED_AT)

    (structure,) = [event for event in events if isinstance(event, CourseStructureChanged)]
    assert structure.course_id == course.course_id
    assert [(s.section_id, s.title, s.order) for s in structure.sections] == [
        (course.sections[0].section_id, "Basics", 0),
        (course.sections[1].section_id, "Loops", 1),
    ]
    assert [
        (lesson.title, lesson.order, lesson.content_type, lesson.duration_seconds)
        for lesson in structure.sections[0].lessons
    ] == [
        ("Welcome", 0, "video", 600),
        ("Variables", 1, "article", 300),
        ("Check yourself", 2, "quiz", 120),
    ]
    (quiz,) = course.quizzes()
    (outline,) = structure.quizzes
    assert outline.quiz_id == quiz.quiz_id
    assert outline.lesson_id == quiz.lesson_id
    assert outline.question_ids == [q.question_id for q in quiz.questions]
    assert outline.question_count == 2
    assert outline.passing_score == 70
    published_json = structure.model_dump_json()
    assert "correct" not in published_json
    assert "binds x to 1" not in published_json
    assert "Hello and welcome" not in published_json


def test_explicit_orders_decide_the_outline_not_the_order_sent(instructor_id: UUID) -> None:
    draft = CourseDraft(
        "Python 101",
        "",
        "programming",
        "beginner",
        (
            SectionDraft(
                "Second",
                (
                    LessonDraft("B", "article", 60, order=20),
                    LessonDraft("A", "article", 60, order=10),
                ),
                order=2,
            ),
            SectionDraft("First", (LessonDraft("C", "article", 60),), order=1),
        ),
    )

    course, events = create_course(draft, instructor_id=instructor_id, at=CREATED_AT)

    assert [lesson.title for lesson in course.lessons()] == ["C", "A", "B"]
    structure = events[1]
    assert isinstance(structure, CourseStructureChanged)
    assert [(s.title, s.order, [(ls.title, ls.order) for ls in s.lessons]) for s in structure.sections] == [
        ("First", 0, [("C", 0)]),
        ("Second", 1, [("A", 0), ("B", 1)]),
    ]


def test_only_lessons_with_text_announce_their_content(instructor_id: UUID) -> None:
    draft = CourseDraft(
        "  Python 101 ",
        " About Python ",
        " programming",
        "beginner",
        (
            SectionDraft(
                " Basics ",
                (
                    LessonDraft(" Intro ", "video", 60),
                    LessonDraft("Blank", "article", 60, body="   "),
                    LessonDraft("Text", "article", 60, body="  Some text.\n"),
                ),
            ),
        ),
    )

    course, events = create_course(draft, instructor_id=instructor_id, at=CREATED_AT)

    contents = [event for event in events if isinstance(event, LessonContentChanged)]
    assert [(event.title, event.text) for event in contents] == [("Text", "Some text.")]
    assert (course.title, course.description, course.category) == (
        "Python 101",
        "About Python",
        "programming",
    )
    assert [lesson.title for lesson in course.lessons()] == ["Intro", "Blank", "Text"]
    assert course.sections[0].title == "Basics"


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["", "   "])
def test_a_course_needs_a_title(course_draft: CourseDraft, title: str) -> None:
    assert problems(dataclasses.replace(course_draft, title=title)).keys() == {"title"}


def test_a_course_needs_a_section(course_draft: CourseDraft) -> None:
    assert problems(dataclasses.replace(course_draft, sections=())).keys() == {"sections"}


def test_a_section_needs_a_lesson(course_draft: CourseDraft) -> None:
    draft = dataclasses.replace(course_draft, sections=(course_draft.sections[0], SectionDraft("Empty", ())))

    assert problems(draft).keys() == {"sections[1].lessons"}


@pytest.mark.parametrize("correct_index", [-1, 2])
def test_the_correct_answer_must_be_one_of_the_options(course_draft: CourseDraft, correct_index: int) -> None:
    quiz = course_draft.sections[0].lessons[2].quiz
    assert quiz is not None
    bad_question = dataclasses.replace(quiz.questions[0], correct_index=correct_index)
    draft = with_lesson(
        course_draft, 0, 2, quiz=dataclasses.replace(quiz, questions=(bad_question, quiz.questions[1]))
    )

    found = problems(draft)

    assert found.keys() == {"sections[0].lessons[2].quiz.questions[0].correctIndex"}
    assert (
        "out of range for 2 options (0 to 1)"
        in found["sections[0].lessons[2].quiz.questions[0].correctIndex"]
    )


def test_two_lessons_cannot_share_an_explicit_order(course_draft: CourseDraft) -> None:
    draft = with_lesson(with_lesson(course_draft, 0, 0, order=1), 0, 1, order=1)
    draft = with_lesson(draft, 0, 2, order=2)

    found = problems(draft)

    assert found == {"sections[0].lessons[1].order": "order 1 is already used by sections[0].lessons[0]"}


def test_orders_are_given_to_every_item_or_to_none(course_draft: CourseDraft) -> None:
    draft = with_lesson(course_draft, 0, 1, order=5)

    assert problems(draft).keys() == {"sections[0].lessons"}


def test_a_quiz_lesson_needs_its_quiz(course_draft: CourseDraft) -> None:
    draft = with_lesson(course_draft, 0, 2, quiz=None)

    assert problems(draft).keys() == {"sections[0].lessons[2].quiz"}


def test_only_quiz_lessons_have_a_quiz(course_draft: CourseDraft) -> None:
    quiz = course_draft.sections[0].lessons[2].quiz
    draft = with_lesson(course_draft, 0, 1, quiz=quiz)

    assert problems(draft) == {
        "sections[0].lessons[1].quiz": "only quiz lessons have a quiz, this one is article"
    }


def test_a_video_lesson_needs_its_length(course_draft: CourseDraft) -> None:
    draft = with_lesson(course_draft, 0, 0, duration_seconds=0)

    assert problems(draft).keys() == {"sections[0].lessons[0].durationSeconds"}


def test_a_quiz_needs_sensible_rules_and_questions(course_draft: CourseDraft) -> None:
    quiz = QuizDraft(
        passing_score=101,
        max_attempts=0,
        questions=(QuestionDraft(" ", ("only",), correct_index=0), QuestionDraft("Q", ("a", " "), 0)),
    )
    draft = with_lesson(course_draft, 0, 2, quiz=quiz)

    assert problems(draft).keys() == {
        "sections[0].lessons[2].quiz.passingScore",
        "sections[0].lessons[2].quiz.maxAttempts",
        "sections[0].lessons[2].quiz.questions[0].text",
        "sections[0].lessons[2].quiz.questions[0].options",
        "sections[0].lessons[2].quiz.questions[1].options[1]",
    }


def test_every_problem_is_reported_at_once(course_draft: CourseDraft) -> None:
    draft = with_lesson(course_draft, 0, 2, quiz=None)
    draft = with_lesson(draft, 0, 1, title=" ")
    draft = dataclasses.replace(
        draft, title="", category=" ", sections=(*draft.sections, SectionDraft("", ()))
    )

    assert problems(draft).keys() == {
        "title",
        "category",
        "sections[0].lessons[1].title",
        "sections[0].lessons[2].quiz",
        "sections[2].title",
        "sections[2].lessons",
    }


def test_a_new_course_cannot_name_ids_of_its_own(course_draft: CourseDraft) -> None:
    stranger = uuid4()
    draft = with_lesson(course_draft, 1, 0, id=stranger)

    found = problems(draft)

    assert found.keys() == {"sections[1].lessons[0].id"}
    assert str(stranger) in found["sections[1].lessons[0].id"]


# --- replace ----------------------------------------------------------------------------------


@pytest.fixture
def draft_course(course_draft: CourseDraft, instructor_id: UUID) -> Course:
    course, _ = create_course(course_draft, instructor_id=instructor_id, at=CREATED_AT)
    return course


def replace(course: Course, draft: CourseDraft) -> tuple[Course, list[DomainEvent]]:
    return replace_outline(course, draft, actor_id=course.instructor_id, at=EDITED_AT)


def test_sending_the_outline_back_unchanged_changes_nothing(draft_course: Course) -> None:
    updated, events = replace(draft_course, draft_of(draft_course))

    assert events == []
    assert updated == draft_course
    assert list(updated.lessons()) == list(draft_course.lessons())


def test_items_sent_with_their_id_keep_it_and_new_items_get_one(draft_course: Course) -> None:
    draft = draft_of(draft_course)
    loops = draft.sections[1]
    draft = dataclasses.replace(
        draft,
        sections=(
            draft.sections[0],
            dataclasses.replace(loops, lessons=(*loops.lessons, LessonDraft("While loops", "video", 300))),
            SectionDraft("Functions", (LessonDraft("def", "article", 200, body="def names a function."),)),
        ),
    )

    updated, events = replace(draft_course, draft)

    before = [lesson.lesson_id for lesson in draft_course.lessons()]
    after = [lesson.lesson_id for lesson in updated.lessons()]
    assert after[:4] == before
    assert len(set(after)) == 6
    assert [s.section_id for s in updated.sections[:2]] == [s.section_id for s in draft_course.sections]
    assert updated.quizzes() == draft_course.quizzes()
    assert updated.course_id == draft_course.course_id
    assert updated.created_at == CREATED_AT
    assert [type(event) for event in events] == [CourseStructureChanged, LessonContentChanged]
    structure, content = events
    assert isinstance(structure, CourseStructureChanged)
    assert [lesson.lesson_id for s in structure.sections for lesson in s.lessons] == after
    assert isinstance(content, LessonContentChanged)
    assert (content.lesson_id, content.text) == (after[5], "def names a function.")
    assert content.occurred_at == EDITED_AT


def test_an_id_not_in_the_course_is_refused(draft_course: Course) -> None:
    stranger = uuid4()
    draft = with_lesson(draft_of(draft_course), 0, 0, id=stranger)

    found = problems(draft, draft_course)

    assert found == {
        "sections[0].lessons[0].id": f"no lesson {stranger} in this course; leave id out for a new lesson"
    }


def test_an_id_of_another_kind_of_item_is_refused(draft_course: Course) -> None:
    section_id = draft_course.sections[0].section_id
    draft = with_lesson(draft_of(draft_course), 0, 1, id=section_id)

    assert problems(draft, draft_course).keys() == {"sections[0].lessons[1].id"}


def test_an_id_sent_twice_is_refused(draft_course: Course) -> None:
    draft = draft_of(draft_course)
    draft = with_lesson(draft, 1, 0, id=draft.sections[0].lessons[0].id)

    found = problems(draft, draft_course)

    assert found.keys() == {"sections[1].lessons[0].id"}
    assert "appears more than once" in found["sections[1].lessons[0].id"]


def test_editing_details_off_the_outline_announces_nothing(draft_course: Course) -> None:
    draft = dataclasses.replace(draft_of(draft_course), description="A new description.")

    updated, events = replace(draft_course, draft)

    assert updated.description == "A new description."
    assert events == []


def test_renaming_a_course_announces_its_new_details(draft_course: Course) -> None:
    draft = dataclasses.replace(draft_of(draft_course), title="Pandas in practice", difficulty="intermediate")

    updated, events = replace(draft_course, draft)

    [event] = events
    assert isinstance(event, CourseDetailsChanged)
    assert (event.title, event.difficulty, event.category) == (
        "Pandas in practice",
        "intermediate",
        updated.category,
    )


def test_editing_a_lessons_text_announces_only_that_lesson(draft_course: Course) -> None:
    draft = with_lesson(draft_of(draft_course), 0, 1, body="A variable is a name for a value.")

    updated, events = replace(draft_course, draft)

    variables = list(updated.lessons())[1]
    assert variables.body == "A variable is a name for a value."
    assert len(events) == 1
    content = events[0]
    assert isinstance(content, LessonContentChanged)
    assert (content.lesson_id, content.title, content.text) == (
        variables.lesson_id,
        "Variables",
        "A variable is a name for a value.",
    )


def test_renaming_a_lesson_changes_the_outline_and_its_content(draft_course: Course) -> None:
    draft = with_lesson(draft_of(draft_course), 1, 0, title="The for loop")

    _, events = replace(draft_course, draft)

    assert [type(event) for event in events] == [CourseStructureChanged, LessonContentChanged]
    structure, content = events
    assert isinstance(structure, CourseStructureChanged)
    assert structure.sections[1].lessons[0].title == "The for loop"
    assert isinstance(content, LessonContentChanged)
    assert (content.title, content.text) == ("The for loop", "A for loop repeats.")


def test_reordering_sections_changes_the_outline(draft_course: Course) -> None:
    draft = draft_of(draft_course)
    draft = dataclasses.replace(draft, sections=(draft.sections[1], draft.sections[0]))

    updated, events = replace(draft_course, draft)

    assert [s.title for s in updated.sections] == ["Loops", "Basics"]
    assert [type(event) for event in events] == [CourseStructureChanged]


def test_removing_a_lesson_changes_the_outline(draft_course: Course) -> None:
    draft = draft_of(draft_course)
    basics = draft.sections[0]
    draft = dataclasses.replace(
        draft, sections=(dataclasses.replace(basics, lessons=basics.lessons[:2]), draft.sections[1])
    )

    updated, events = replace(draft_course, draft)

    assert updated.lesson_count == 3
    assert updated.quizzes() == []
    (structure,) = events
    assert isinstance(structure, CourseStructureChanged)
    assert structure.quizzes == []


def test_changing_the_answer_key_is_kept_but_not_announced(draft_course: Course) -> None:
    draft = draft_of(draft_course)
    quiz = draft.sections[0].lessons[2].quiz
    assert quiz is not None
    rekeyed = dataclasses.replace(quiz.questions[1], correct_index=2)
    draft = with_lesson(draft, 0, 2, quiz=dataclasses.replace(quiz, questions=(quiz.questions[0], rekeyed)))

    updated, events = replace(draft_course, draft)

    (updated_quiz,) = updated.quizzes()
    assert updated_quiz.questions[1].correct_index == 2
    assert updated_quiz.quiz_id == draft_course.quizzes()[0].quiz_id
    assert events == []


def test_a_refused_edit_leaves_the_course_as_it_was(draft_course: Course) -> None:
    draft = dataclasses.replace(draft_of(draft_course), title=" ")

    problems(draft, draft_course)

    assert draft_course.title == "Python 101"


# --- publish and archive ----------------------------------------------------------------------


def test_publishing_opens_the_course_once(draft_course: Course) -> None:
    course, first = publish(draft_course, actor_id=draft_course.instructor_id, at=PUBLISHED_AT)
    again, second = publish(course, actor_id=draft_course.instructor_id, at=EDITED_AT)

    assert course.status == "published"
    assert course.published_at == PUBLISHED_AT
    assert again is course
    assert second == []
    (published,) = first
    assert isinstance(published, CoursePublished)
    assert (published.course_id, published.title, published.category, published.difficulty) == (
        draft_course.course_id,
        "Python 101",
        "programming",
        "beginner",
    )
    assert published.occurred_at == PUBLISHED_AT
    assert course.lesson_count == draft_course.lesson_count


def test_archiving_closes_the_course_to_new_learners(draft_course: Course) -> None:
    course, _ = publish(draft_course, actor_id=draft_course.instructor_id, at=PUBLISHED_AT)
    ensure_enrollable(course)

    archived, events = archive(course, actor_id=course.instructor_id, at=ARCHIVED_AT)
    again, repeated = archive(archived, actor_id=course.instructor_id, at=ARCHIVED_AT)

    assert archived.status == "archived"
    assert archived.archived_at == ARCHIVED_AT
    assert archived.published_at == PUBLISHED_AT
    (event,) = events
    assert isinstance(event, CourseArchived)
    assert (event.course_id, event.occurred_at) == (course.course_id, ARCHIVED_AT)
    assert (again, repeated) == (archived, [])
    with pytest.raises(Conflict):
        ensure_enrollable(archived)


def test_republishing_an_archived_course_reopens_it(draft_course: Course) -> None:
    archived, _ = archive(draft_course, actor_id=draft_course.instructor_id, at=ARCHIVED_AT)

    reopened, events = publish(archived, actor_id=draft_course.instructor_id, at=PUBLISHED_AT)

    assert (reopened.status, reopened.archived_at) == ("published", None)
    assert [type(event) for event in events] == [CoursePublished]
    ensure_enrollable(reopened)
