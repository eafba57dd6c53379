// The web app's entry: who is signed in, the navigation for their role, and which page a
// path shows. Every page renders from the public API into <main>.
import { forget, live, session } from "./api.js";
import { h, toast } from "./ui.js";
import { adminPage } from "./pages/admin.js";
import { chatPage } from "./pages/chat.js";
import { creatorPage } from "./pages/creator.js";
import { dashboardPage } from "./pages/dashboard.js";
import { instructorPage } from "./pages/instructor.js";
import { progressPage } from "./pages/progress.js";
import { signInPage } from "./pages/signin.js";
import { studentPage } from "./pages/student.js";

const ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const TEACHERS = ["instructor", "admin"];
const ROUTES = [
  { pattern: /^\/$/, page: signInPage, public: true, title: "Sign in" },
  { pattern: /^\/dashboard$/, page: dashboardPage, title: "My learning" },
  { pattern: new RegExp(`^/courses/(${ID})/progress$`), page: progressPage, title: "Course progress" },
  { pattern: /^\/chat$/, page: chatPage, title: "Course assistant" },
  { pattern: /^\/creator$/, page: creatorPage, title: "Creator dashboard", roles: TEACHERS },
  { pattern: new RegExp(`^/instructor/courses/(${ID})/analytics$`), page: instructorPage, title: "Course analytics", roles: TEACHERS },
  { pattern: new RegExp(`^/instructor/courses/(${ID})/students/(${ID})$`), page: studentPage, title: "Student", roles: TEACHERS },
  { pattern: /^\/admin$/, page: adminPage, title: "Platform overview", roles: ["admin"] },
];

const LEARNER = [["/dashboard", "My learning"], ["/chat", "Assistant"]];
const NAV = {
  student: LEARNER,
  instructor: [["/creator", "My courses"], ...LEARNER],
  admin: [["/admin", "Platform"], ["/creator", "My courses"], ...LEARNER],
};

function header(current) {
  const nav = document.getElementById("nav");
  const account = document.getElementById("account");
  nav.replaceChildren();
  account.replaceChildren();
  if (!current) return;
  for (const [path, label] of NAV[current.user.role] || []) {
    nav.append(h("a", { href: path, "aria-current": location.pathname === path ? "page" : null }, label));
  }
  account.append(
    h("span", {}, `${current.user.fullName} (${current.user.role})`),
    h("button", { type: "button", onclick: () => { forget(); location.assign("/"); } }, "Sign out"),
  );
}

function notFound(main) {
  main.replaceChildren(h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "/" }, "Go to the start page")));
}

function liveToasts() {
  live((kind, data) => {
    if (kind === "achievement.unlocked") toast(`Achievement unlocked: ${data.title}`);
    else if (kind === "level.reached") toast(`Level ${data.level} reached`);
    else if (kind === "enrollment.created") toast(`New enrollment: ${data.learnerName || "a learner"}`);
    else if (kind === "export.completed") toast("Your export is ready");
    else if (kind === "export.failed") toast(`Your export failed: ${data.reason || "see the exports list"}`);
    document.dispatchEvent(new CustomEvent("learnstream:live", { detail: { kind, data } }));
  });
}

async function start() {
  const main = document.getElementById("main");
  const current = session();
  const route = ROUTES.find((r) => r.pattern.test(location.pathname));
  header(current);
  if (!route) return notFound(main);
  if (!route.public && !current) {
    location.assign(`/?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  if (route.roles && !route.roles.includes(current.user.role)) {
    main.replaceChildren(h("h1", {}, "Not available"), h("p", {}, "This page is not for your role."));
    return;
  }
  document.title = `${route.title} · Learnstream`;
  const params = route.pattern.exec(location.pathname).slice(1);
  if (current) liveToasts();
  try {
    await route.page(main, { user: current && current.user, params, query: new URLSearchParams(location.search) });
  } catch (error) {
    main.replaceChildren(h("h1", {}, route.title), h("p", { class: "error", role: "alert" }, error.message));
  }
}

start();
