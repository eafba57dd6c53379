// "/instructor/courses/{id}/students/{studentId}": one learner of the instructor's course:
// enrollment, stats, timeline, lesson-by-lesson breakdown, assistant summary and notes.
import { api } from "../api.js";
import { ago, card, date, duration, h, number, panel, percent, show } from "../ui.js";

const EVENT = {
  enrolled: () => "Enrolled",
  lessonStarted: (e) => `Started “${e.title}”`,
  lessonCompleted: (e) => `Completed “${e.title}”`,
  quizSubmitted: (e) => `Quiz “${e.title}”, attempt ${e.attempt}: ${percent(e.score)}${e.passed ? " (passed)" : " (not passed)"}`,
  milestone: (e) => `Reached ${e.milestone}%`,
  courseCompleted: () => "Completed the course",
  questionsAsked: (e) => `Asked the assistant ${e.count} question${e.count === 1 ? "" : "s"}`,
  note: () => "Note added",
};

export async function studentPage(main, { params }) {
  const [courseId, studentId] = params;
  main.replaceChildren(h("p", { class: "loading" }, "Loading the student…"));
  const [view, notes] = await Promise.all([
    api(`/api/instructor/courses/${courseId}/students/${studentId}`),
    api(`/api/instructor/courses/${courseId}/students/${studentId}/notes`).catch(() => ({ notes: [] })),
  ]);
  const { student, enrollment, stats } = view;
  const noteList = h("ul", { id: "notes" }, notes.notes.map((n) => h("li", {}, n.note, h("span", { class: "muted" }, ` · ${date(n.createdAt)}`))));
  const noteInput = h("textarea", { id: "note", rows: "2", maxlength: "10000", "aria-label": "New note" });
  const noteStatus = h("p", { class: "error", role: "alert" });
  show(main,
    h("p", {}, h("a", { href: `/instructor/courses/${courseId}/analytics` }, "← Course analytics")),
    h("h1", {}, student.name),
    h("p", { class: "sub" }, `Enrolled ${date(enrollment.enrolledAt)} · last active ${ago(enrollment.lastActive)} · ${enrollment.status}`,
      enrollment.atRisk ? h("strong", { class: "down" }, ` · at risk: ${enrollment.details}`) : ""),
    h("div", { class: "cards" },
      card("Progress", percent(enrollment.progress)),
      card("Time spent", duration(stats.totalTime)),
      card("Lessons", `${stats.lessonsCompleted} / ${stats.totalLessons}`),
      card("Current streak", `${stats.currentStreak} days`),
      card("Questions asked", number(stats.questionsAsked)),
      card("Avg session", duration(stats.averageSessionDuration)),
      card("Most active hour", stats.mostActiveHour === null ? "—" : `${stats.mostActiveHour}:00`)),
    h("div", { class: "two" },
      panel("Progress timeline", h("ol", { class: "timeline" }, view.progressTimeline.slice(-30).reverse().map((e) =>
        h("li", {}, h("span", { class: "muted" }, `${date(e.at)} `), (EVENT[e.type] || (() => e.type))(e))))),
      panel("Assistant", h("p", {}, `${view.aiChatSummary.totalQuestions} questions; topics: ${view.aiChatSummary.commonTopics.join(", ") || "none yet"}`),
        h("ul", {}, view.aiChatSummary.recentQuestions.map((q) => h("li", {}, `“${q}”`))))),
    panel("Lesson by lesson", h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Section", "Lesson", "Status", "Time", "Views", "Last accessed"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, view.lessonProgress.map((l) => h("tr", {},
        h("td", {}, l.sectionTitle), h("td", {}, l.title), h("td", {}, l.status.replace("_", " ")),
        h("td", {}, duration(l.timeSpent)), h("td", {}, number(l.views)), h("td", {}, ago(l.lastAccessed)))))))),
    panel("Private notes", noteList, h("form", { onsubmit: async (event) => {
      event.preventDefault();
      if (!noteInput.value.trim()) return;
      try {
        const note = await api(`/api/instructor/students/${studentId}/notes`, { method: "POST", body: { courseId, note: noteInput.value.trim() } });
        noteList.append(h("li", {}, note.note, h("span", { class: "muted" }, ` · ${date(note.createdAt)}`)));
        noteInput.value = "";
      } catch (error) { noteStatus.textContent = error.message; }
    } }, noteInput, h("button", { type: "submit" }, "Add note")), noteStatus),
  );
}
