// "/dashboard": the learner's stats, Continue Learning, activity chart (30/90 days),
// achievements earned and locked, and every enrolled course with filter and sort.
import { api } from "../api.js";
import { plot } from "../charts.js";
import { ago, card, duration, h, number, panel, percent, progressBar, unavailable, show } from "../ui.js";

function continueLearning(courses) {
  if (!courses.length) return h("p", { class: "muted" }, "Nothing in progress. Enroll in a course to start.");
  return h("div", {}, courses.map((c) => h("div", { class: "course-row" },
    h("div", {},
      h("strong", {}, c.course.title),
      h("div", { class: "row" }, progressBar(c.completionPercentage, `${c.course.title} progress`),
        h("span", {}, percent(c.completionPercentage))),
      h("div", { class: "muted" },
        `Last accessed ${ago(c.lastAccessedAt)}`,
        c.nextLesson ? ` · Next: ${c.nextLesson.title}` : "",
        ` · ${duration(c.timeRemainingSeconds)} left`)),
    h("div", {}, h("a", { class: "button", href: `/courses/${c.courseId}/progress`, "aria-label": `Continue ${c.course.title}` }, "Continue →")))));
}

function activityChart(element, days) {
  const x = days.map((d) => d.date);
  plot(element, [
    { type: "bar", x, y: days.map((d) => Math.round((d.timeSpent || 0) / 60)), name: "Minutes learning",
      marker: { color: "#1f5fbf" }, hovertemplate: "%{x}: %{y} min<extra></extra>" },
  ], { yaxis: { title: { text: "minutes" } }, showlegend: false });
  element.setAttribute("aria-label", `Minutes spent learning on each of the last ${days.length} days`);
}

function achievementsGrid(earned, available) {
  return h("div", { class: "badges" },
    earned.map((a) => h("div", { class: "badge", "data-earned": "true" },
      h("div", { class: "name" }, h("span", { "aria-hidden": "true" }, `${a.icon || ""} `), a.title),
      h("div", {}, a.description),
      h("div", { class: "muted" }, `Earned ${ago(a.earnedAt)} · ${a.rarity}`))),
    available.map((a) => h("div", { class: "badge locked", "data-earned": "false" },
      h("div", { class: "name" }, h("span", { "aria-hidden": "true" }, "🔒 "), a.title, h("span", { class: "sr-only" }, " (locked)")),
      h("div", {}, a.description),
      progressBar(a.progress.percentage, `${a.title} progress`),
      h("div", {}, a.progress.unit === "seconds"
        ? `${duration(a.progress.current)} / ${duration(a.progress.target)}`
        : `${number(a.progress.current)} / ${number(a.progress.target)} ${a.progress.unit || ""}`))));
}

function enrolledCourses(courses) {
  const filter = h("select", { id: "course-filter" },
    h("option", { value: "all" }, "All"), h("option", { value: "progress" }, "In progress"),
    h("option", { value: "completed" }, "Completed"), h("option", { value: "new" }, "Not started"));
  const sort = h("select", { id: "course-sort" },
    h("option", { value: "recent" }, "Recently accessed"), h("option", { value: "progress" }, "Progress"),
    h("option", { value: "name" }, "Name"));
  const list = h("div", {});
  function show() {
    const picked = courses.filter((c) => {
      if (filter.value === "completed") return c.status === "completed";
      if (filter.value === "new") return c.status !== "completed" && !c.completionPercentage;
      if (filter.value === "progress") return c.status !== "completed" && c.completionPercentage > 0;
      return true;
    });
    const by = {
      recent: (a, b) => (b.lastAccessedAt || "").localeCompare(a.lastAccessedAt || ""),
      progress: (a, b) => b.completionPercentage - a.completionPercentage,
      name: (a, b) => a.course.title.localeCompare(b.course.title),
    }[sort.value];
    picked.sort(by);
    list.replaceChildren(picked.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Course", "Progress", "Lessons", "Time spent", "Status", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, picked.map((c) => h("tr", {},
        h("td", {}, c.course.title),
        h("td", {}, h("div", { class: "row" }, progressBar(c.completionPercentage, `${c.course.title} progress`), percent(c.completionPercentage))),
        h("td", {}, `${c.lessonsCompleted} / ${c.totalLessons}`),
        h("td", {}, duration(c.timeSpentSeconds)),
        h("td", {}, c.status === "completed" ? "Completed" : c.completionPercentage ? "In progress" : "Not started"),
        h("td", {}, h("a", { href: `/courses/${c.courseId}/progress`, "aria-label": `${c.status === "completed" ? "Review" : "Continue"} ${c.course.title}` },
          c.status === "completed" ? "Review" : "Continue")))))))
      : h("p", { class: "muted" }, "No courses match."));
  }
  filter.addEventListener("change", show);
  sort.addEventListener("change", show);
  show();
  return [h("div", { class: "row" }, h("label", { for: "course-filter" }, "Show"), filter,
    h("label", { for: "course-sort" }, "Sort by"), sort), list];
}

export async function dashboardPage(main, { user }) {
  main.replaceChildren(h("p", { class: "loading" }, "Loading your dashboard…"));
  const [board, achievements, courses] = await Promise.all([
    api("/api/learner/dashboard", { query: { days: 30 } }),
    api("/api/learner/achievements").catch(() => null),
    api("/api/learner/courses", { query: { limit: 100 } }).catch(() => null),
  ]);
  const stats = board.stats;
  const chart = h("div", { id: "activity-chart" });
  let days = 30;
  const toggle = h("div", { class: "row toggle", role: "group", "aria-label": "Days shown" },
    [30, 90].map((n) => h("button", {
      type: "button", "aria-pressed": String(n === days),
      onclick: async (event) => {
        days = n;
        for (const b of toggle.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === event.target));
        const answer = await api("/api/learner/activity", { query: { days: n } });
        activityChart(chart, answer.activityData);
        title.textContent = `Learning activity (last ${n} days)`;
      },
    }, `${n} days`)));
  const title = h("h2", {}, "Learning activity (last 30 days)");
  show(main,
    h("h1", {}, `Welcome back, ${user.fullName}!`),
    h("p", { class: "sub" },
      stats.currentStreak ? [h("span", { "aria-hidden": "true" }, "🔥 "), `Current streak: ${stats.currentStreak} days`] : "Learn today to start a streak",
      board.level ? ` · Level ${board.level} · ${number(board.xp)} XP` : ""),
    h("div", { class: "cards", id: "stats" },
      card("Courses", number(stats.totalCourses)),
      card("Time spent", duration(stats.totalTimeSpent)),
      card("Achievements", number(stats.achievementsCount)),
      card("Current streak", `${number(stats.currentStreak)} days`),
      card("Average completion", percent(stats.averageCompletion))),
    Object.keys(board.unavailable || {}).length
      ? h("div", {}, Object.entries(board.unavailable).map(([k, v]) => unavailable(k, v))) : null,
    panel("Continue learning", continueLearning((board.inProgressCourses || []).filter((c) => c.status !== "completed"))),
    h("section", { class: "panel", "aria-label": "Learning activity" }, title, toggle, chart),
    panel("Achievements", achievements
      ? achievementsGrid(achievements.earned || [], achievements.available || [])
      : unavailable("Achievements", "the achievements service did not answer")),
    panel("My courses", courses ? enrolledCourses(courses.courses) : unavailable("Courses", "the progress service did not answer")),
  );
  activityChart(chart, board.activityData || []);
}
