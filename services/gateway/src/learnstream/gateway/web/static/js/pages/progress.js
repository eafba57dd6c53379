// "/courses/{id}/progress": one course's modules and lessons with status and time spent,
// the learner's pace (lessons a week) and the estimated time left.
import { api, download } from "../api.js";
import { ago, card, date, duration, h, number, panel, percent, progressBar, unavailable, show } from "../ui.js";

const STATUS = { completed: ["✅", "Completed"], in_progress: ["◐", "In progress"], not_started: ["○", "Not started"] };

function lessonLine(lesson) {
  const detail = lesson.status === "not_started"
    ? "Not started"
    : `${duration(lesson.timeSpentSeconds)} spent${lesson.completedAt ? ` · completed ${date(lesson.completedAt)}` : ""}`;
  const extra = [];
  if (lesson.watchedPercentage !== null && lesson.watchedPercentage !== undefined) extra.push(`${percent(lesson.watchedPercentage)} watched`);
  if (lesson.quiz) extra.push(`quiz: ${lesson.quiz.passed ? "passed" : "not passed"}${lesson.quiz.bestScore !== null ? `, best ${percent(lesson.quiz.bestScore)}` : ""}`);
  return h("li", { class: "lesson", "data-status": lesson.status },
    h("span", { class: "sr-status" }, h("span", { "aria-hidden": "true" }, `${STATUS[lesson.status][0]} `), STATUS[lesson.status][1]), " ",
    h("strong", {}, lesson.title), " ",
    h("span", { class: "muted" }, `(${lesson.contentType}, ${duration(lesson.durationSeconds)}) — ${detail}${extra.length ? ` · ${extra.join(" · ")}` : ""}`));
}

export async function progressPage(main, { params }) {
  const [courseId] = params;
  main.replaceChildren(h("p", { class: "loading" }, "Loading the course…"));
  const view = await api(`/api/learner/course/${courseId}/progress`);
  const { course, enrollment, stats } = view;
  const lessonsBySection = new Map();
  for (const lesson of view.lessons) {
    if (!lessonsBySection.has(lesson.sectionId)) lessonsBySection.set(lesson.sectionId, []);
    lessonsBySection.get(lesson.sectionId).push(lesson);
  }
  const modules = view.moduleProgress.map((m) => h("details", { class: "panel", open: m.completionPercentage < 100 },
    h("summary", {}, h("strong", {}, m.title), " ",
      h("span", { class: "muted" }, `${m.lessonsCompleted} / ${m.totalLessons} lessons · ${percent(m.completionPercentage)} · ${duration(m.timeSpentSeconds)}`)),
    progressBar(m.completionPercentage, `${m.title} progress`),
    h("ul", { class: "lessons" }, (lessonsBySection.get(m.sectionId) || []).map(lessonLine))));
  const certificate = enrollment.status === "completed"
    ? h("p", {}, h("button", {
      type: "button",
      onclick: () => download(`/api/learner/courses/${courseId}/certificate`, `certificate-${courseId}.pdf`),
    }, "Download certificate (PDF)"))
    : null;
  show(main,
    h("h1", {}, course.title),
    h("p", { class: "sub" }, `Enrolled ${date(enrollment.enrolledAt)} · last accessed ${ago(enrollment.lastAccessedAt)}`,
      view.nextLesson ? ` · next lesson: ${view.nextLesson.title}` : ""),
    h("div", { class: "row" }, progressBar(stats.completionPercentage, "Course progress"), h("strong", {}, percent(stats.completionPercentage))),
    certificate,
    h("div", { class: "cards", id: "course-stats" },
      card("Time spent", duration(stats.totalTimeSpentSeconds)),
      card("Lessons completed", `${stats.lessonsCompleted} / ${stats.totalLessons}`),
      card("Average per lesson", duration(stats.averageTimePerLessonSeconds)),
      card("Fastest lesson", stats.fastestLessonSeconds ? duration(stats.fastestLessonSeconds) : "—"),
      card("Velocity", `${number(stats.lessonsPerWeek, 1)} lessons / week`),
      card("Estimated time left", duration(stats.estimatedSecondsToCompletion))),
    h("section", { "aria-label": "Modules" }, h("h2", {}, "Modules"), modules),
    panel("Assistant conversations about this course", view.conversations
      ? (view.conversations.length
        ? h("ul", {}, view.conversations.map((c) => h("li", {}, h("a", { href: `/chat?session=${c.id}` }, c.title), h("span", { class: "muted" }, ` · ${c.messageCount} messages · ${ago(c.lastMessageAt)}`))))
        : h("p", { class: "muted" }, "No questions asked yet. ", h("a", { href: `/chat?course=${courseId}` }, "Ask the assistant")))
      : unavailable("Conversations", (view.unavailable || {}).conversations || "chat did not answer")),
  );
}
