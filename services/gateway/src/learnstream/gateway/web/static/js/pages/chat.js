// "/chat": the assistant. The history sidebar (grouped Today / Yesterday / Last 7 Days /
// Older, search, rename, delete, load more) beside the open conversation, whose replies
// stream in as they are written.
import { api, stream } from "../api.js";
import { ago, h, richText, show } from "../ui.js";

const GROUPS = [["today", "Today"], ["yesterday", "Yesterday"], ["last7Days", "Last 7 Days"], ["older", "Older"]];
const PAGE = 20;

export async function chatPage(main, { query }) {
  const courses = (await api("/api/learner/courses", { query: { limit: 100 } })).courses;
  const state = { sessions: [], hasMore: false, q: "", active: query.get("session"), busy: false };

  const courseSelect = h("select", { id: "chat-course" },
    courses.map((c) => h("option", { value: c.courseId, selected: c.courseId === query.get("course") }, c.course.title)));
  const search = h("input", { id: "chat-search", type: "search", placeholder: "Search conversations", "aria-label": "Search conversations" });
  const list = h("nav", { class: "history", "aria-label": "Conversations" });
  const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => load(false) }, "Show more");
  const title = h("h2", { id: "conversation-title" }, "New conversation");
  const messages = h("div", { class: "messages", id: "messages", "aria-live": "polite" });
  const input = h("textarea", { id: "question", rows: "3", maxlength: "4000", "aria-label": "Your question", placeholder: "Ask about the course…" });
  const send = h("button", { type: "submit" }, "Send");
  const status = h("p", { class: "error", role: "alert" });

  function item(s) {
    const link = h("a", {
      href: `/chat?session=${s.id}`, "aria-current": s.id === state.active ? "true" : null,
      title: `${s.messageCount} messages · last activity ${ago(s.lastMessageAt || s.createdAt)}`,
      onclick: (event) => { event.preventDefault(); open(s.id); },
    }, s.title);
    const rename = h("button", { type: "button", class: "secondary small", "aria-label": `Rename ${s.title}`, onclick: async () => {
      const name = prompt("New name for this conversation", s.title);
      if (!name || !name.trim()) return;
      try {
        const renamed = await api(`/api/chat/sessions/${s.id}`, { method: "PATCH", body: { title: name.trim() } });
        Object.assign(s, renamed);
        render();
        if (s.id === state.active) title.textContent = s.title;
      } catch (error) { status.textContent = error.message; }
    } }, "Rename");
    const remove = h("button", { type: "button", class: "secondary small", "aria-label": `Delete ${s.title}`, onclick: async () => {
      if (!confirm(`Delete “${s.title}” and all its messages?`)) return;
      try {
        await api(`/api/chat/sessions/${s.id}`, { method: "DELETE" });
        state.sessions = state.sessions.filter((x) => x.id !== s.id);
        if (state.active === s.id) { state.active = null; showConversation(null, []); }
        render();
      } catch (error) { status.textContent = error.message; }
    } }, "Delete");
    return h("li", { class: "session" }, link, h("span", { class: "actions" }, rename, remove));
  }

  function render() {
    list.replaceChildren(...GROUPS.flatMap(([key, label]) => {
      const inGroup = state.sessions.filter((s) => s.group === key);
      return inGroup.length ? [h("h3", {}, label), h("ul", {}, inGroup.map(item))] : [];
    }));
    if (!state.sessions.length) list.append(h("p", { class: "muted" }, state.q ? "No conversation matches." : "No conversations yet."));
    more.hidden = !state.hasMore;
  }

  async function load(fresh) {
    const answer = await api("/api/chat/sessions", {
      query: { limit: PAGE, offset: fresh ? 0 : state.sessions.length, q: state.q },
    });
    state.sessions = fresh ? answer.sessions : [...state.sessions, ...answer.sessions];
    state.hasMore = answer.hasMore;
    render();
  }

  function bubble(message) {
    const body = h("div", { class: "text" }, message.role === "assistant" ? richText(message.content) : message.content);
    return h("div", { class: `message ${message.role}` },
      h("div", { class: "who" }, message.role === "user" ? "You" : "Assistant"), body);
  }

  function showConversation(session, items) {
    title.textContent = session ? session.title : "New conversation";
    messages.replaceChildren(...items.map(bubble));
    if (session) courseSelect.value = session.courseId;
    courseSelect.disabled = Boolean(session);
    history.replaceState(null, "", session ? `/chat?session=${session.id}` : "/chat");
  }

  async function open(id) {
    state.active = id;
    render();
    const answer = await api(`/api/chat/sessions/${id}/messages`);
    showConversation(answer.session, answer.messages);
    input.focus();
  }

  async function ask(event) {
    event.preventDefault();
    const content = input.value.trim();
    if (!content || state.busy) return;
    status.textContent = "";
    state.busy = true;
    send.disabled = true;
    try {
      if (!state.active) {
        const created = await api("/api/chat/sessions", { method: "POST", body: { courseId: courseSelect.value } });
        state.active = created.id;
        showConversation(created, []);
      }
      input.value = "";
      const reply = bubble({ role: "assistant", content: "" });
      reply.classList.add("streaming");
      const text = reply.querySelector(".text");
      await stream(`/api/chat/sessions/${state.active}/messages`, { content }, (kind, data) => {
        if (kind === "question") messages.append(bubble(data), reply);
        else if (kind === "delta") text.textContent += data.text;
        else if (kind === "reply") { text.replaceChildren(...richText(data.content)); reply.classList.remove("streaming"); }
      });
      await load(true);
      const current = state.sessions.find((s) => s.id === state.active);
      if (current) title.textContent = current.title;
    } catch (error) {
      status.textContent = error.message;
    } finally {
      state.busy = false;
      send.disabled = false;
    }
  }

  // Enter sends, Shift+Enter starts a new line
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) ask(event);
  });

  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.q = search.value.trim(); load(true).catch((e) => { status.textContent = e.message; }); }, 250);
  });

  show(main,
    h("h1", {}, "Course assistant"),
    courses.length ? null : h("p", { class: "muted" }, "Enroll in a course to ask its assistant."),
    h("div", { class: "chat" },
      h("aside", { class: "panel sidebar", "aria-label": "Chat history" },
        h("h2", {}, "Chat history"),
        h("button", { type: "button", id: "new-conversation", onclick: () => { state.active = null; render(); showConversation(null, []); input.focus(); } }, "+ New Conversation"),
        search, list, more),
      h("section", { class: "panel conversation", "aria-labelledby": "conversation-title" },
        title,
        h("div", { class: "row" }, h("label", { for: "chat-course" }, "Course"), courseSelect),
        messages,
        h("form", { onsubmit: ask }, input, h("div", { class: "row" }, send)),
        status)));
  await load(true);
  if (state.active) await open(state.active);
}
