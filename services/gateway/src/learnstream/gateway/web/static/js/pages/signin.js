// "/": sign in with email and password; in dev mode, one click as a demo user.
import { api, remember, session } from "../api.js";
import { h } from "../ui.js";

const DEMO = [
  ["student", "Sign in as demo learner", "demo-learner@learnstream.dev", "Demo Learner"],
  ["instructor", "Sign in as demo instructor", "demo-instructor@learnstream.dev", "Demo Instructor"],
  ["admin", "Sign in as demo admin", "demo-admin@learnstream.dev", "Demo Admin"],
];

function landing(user, query) {
  const next = query.get("next");
  if (next && next.startsWith("/") && !next.startsWith("//")) return next;
  if (user.role === "instructor") return "/creator";
  if (user.role === "admin") return "/admin";
  return "/dashboard";
}

export async function signInPage(main, { query }) {
  const current = session();
  if (current) {
    location.replace(landing(current.user, query));
    return;
  }
  const message = h("p", { class: "error", role: "alert" });
  async function signIn(request) {
    message.textContent = "";
    try {
      const answer = await request();
      remember(answer);
      location.assign(landing(answer.user, query));
    } catch (error) {
      message.textContent = error.message;
    }
  }
  const email = h("input", { id: "email", type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", {
    id: "password", type: "password", name: "password", autocomplete: "current-password", required: true,
  });
  const form = h("form", {
    onsubmit: (event) => {
      event.preventDefault();
      signIn(() => api("/api/auth/login", { method: "POST", body: { email: email.value, password: password.value } }));
    },
  },
  h("label", { for: "email" }, "Email"), email,
  h("label", { for: "password" }, "Password"), password,
  h("p", {}, h("button", { type: "submit" }, "Sign in")));
  const demo = document.body.dataset.dev === "true"
    ? h("div", { class: "demo" },
      h("p", { class: "muted" }, "Development mode: try the platform as one of the demo users."),
      DEMO.map(([role, label, address, fullName]) => h("button", {
        type: "button",
        class: "secondary",
        onclick: () => signIn(() => api("/api/auth/dev-token", { method: "POST", body: { email: address, role, fullName } })),
      }, label)))
    : null;
  main.replaceChildren(h("section", { class: "panel signin" },
    h("h1", {}, "Sign in to Learnstream"), form, message, demo));
}
