// The room's chat, on both sides: what was written (who wrote it, to whom, when), a box to
// write in, and whom it is for. A young person writes only to their therapist unless they
// choose everyone; the therapist writes to everyone or to one person, and turns the chat off
// for the others. A message is shown as text, never as markup: a link in it is not a link.
// New messages from others are read out politely. Nothing is kept in the browser: `clear()`
// empties the panel when the session is over for this page.

import { clock } from "./clock.js";
import { t } from "./strings.js";

const ROLES = {
  therapist: t("Therapist"),
  young_person: t("Young person"),
  parent: t("Parent or carer"),
};

/** The chat panel of a room page (`[data-chat]`, `data-host` on the therapist's). */
export class Chat {
  /**
   * @param {import("./signal.js").Signalling} signalling
   * @param {{ onNew?: (message: object) => void }} [hooks] `onNew`: a message from someone
   * else came
   */
  constructor(signalling, hooks = {}) {
    this.signalling = signalling;
    this.onNew = hooks.onNew ?? (() => {});
    this.panel = document.querySelector("[data-chat]");
    this.host = this.panel.hasAttribute("data-host");
    this.log = this.panel.querySelector("[data-chat-log]");
    this.empty = this.panel.querySelector("[data-chat-empty]");
    this.announce = this.panel.querySelector("[data-chat-announce]");
    this.offNote = this.panel.querySelector("[data-chat-off]");
    this.form = this.panel.querySelector("[data-chat-form]");
    this.text = this.form.querySelector("textarea");
    this.to = this.form.querySelector("[data-chat-to]");
    this.error = this.form.querySelector("[data-chat-error]");
    this.everyone = this.form.querySelector("[data-chat-everyone]");
    this.switch = this.panel.querySelector("[data-chat-on]");
    /** @type {Map<string, {name: string, role: string}>} who is in the room, by id */
    this.people = new Map();
    this.sent = 0; // the frames' own ids: a refusal names the message it answers
    this.pending = new Map(); // frame id -> its text, until the server took it or refused it
    this.on = true;
    signalling.on("chat", (m) => this.handleChat(m));
    signalling.on("chat_history", (m) => this.handleHistory(m));
    signalling.on("chat_setting", (m) => this.handleSetting(m.on));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.text.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey) return; // Shift+Enter: a new line
      event.preventDefault();
      this.send();
    });
    this.switch?.addEventListener("change", () =>
      signalling.send({ type: "chat_setting", on: this.switch.checked }),
    );
  }

  /** Who is in the room now (each `id`, `name`, `role`): the therapist's page offers each
   * person but the therapist as someone to write to privately; the young person's page
   * writes privately to the therapist. */
  present(people) {
    this.people = new Map(people.map((p) => [p.id, { name: p.name, role: p.role }]));
    if (this.host) this.recipients();
  }

  /** Someone came into the room. */
  arrived(person) {
    this.people.set(person.id, { name: person.name, role: person.role });
    if (this.host) this.recipients();
  }

  /** Someone left the room. */
  gone(id) {
    if (!this.people.delete(id)) return;
    if (this.host) this.recipients();
  }

  /** The therapist's choice of whom a message is for: everyone, or one person. */
  recipients() {
    const chosen = this.to.querySelector("input:checked")?.value ?? "everyone";
    const options = [this.option("everyone", "Everyone")];
    for (const [id, p] of this.people) {
      if (p.role === "therapist" || p.role === "observer") continue;
      options.push(this.option(id, `Only ${p.name}`));
    }
    const legend = this.to.querySelector("legend");
    this.to.replaceChildren(legend, ...options);
    const again = [...this.to.querySelectorAll("input")].find((i) => i.value === chosen);
    (again ?? this.to.querySelector("input")).checked = true;
  }

  option(value, text) {
    const label = document.createElement("label");
    label.className = "option";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "chat-to";
    input.value = value;
    label.append(input, ` ${text}`);
    return label;
  }

  /** Whom the box writes to: a participant id, or null for everyone. */
  target() {
    const chosen = this.to.querySelector("input:checked")?.value ?? "everyone";
    if (chosen === "everyone") return null;
    if (chosen !== "therapist") return chosen;
    for (const [id, p] of this.people) if (p.role === "therapist") return id;
    return undefined; // the therapist is not in the room just now
  }

  send() {
    const text = this.text.value.trim();
    if (!text) return;
    const to = this.target();
    if (to === undefined) {
      this.error.textContent = t("Your therapist is not in the room just now. Try again soon.");
      return;
    }
    this.sent += 1;
    const message = { type: "chat", text, id: `chat-${this.sent}` };
    if (to) message.to = to;
    if (!this.signalling.send(message)) {
      this.error.textContent = t(
        "Not connected just now. Your message is still here: try again soon.",
      );
      return;
    }
    this.pending.set(message.id, text);
    this.error.textContent = "";
    this.text.value = "";
  }

  /** A refusal of one of this page's messages, shown beside the box; true when it was one. */
  handleError(message) {
    if (!message.id?.startsWith("chat-")) return false;
    const text = this.pending.get(message.id);
    this.pending.delete(message.id);
    // refused: what they wrote comes back to the box, unless they have begun another
    if (text && !this.text.value.trim()) this.text.value = text;
    this.error.textContent = message.message;
    return true;
  }

  handleChat(message) {
    if (message.id) this.pending.delete(message.id); // taken
    this.add(message);
    if (message.mine) return;
    this.announce.textContent = message.private
      ? t("{who}, only to you: {text}", { who: this.who(message), text: message.text })
      : t("{who}: {text}", { who: this.who(message), text: message.text });
    this.onNew(message);
  }

  handleHistory(message) {
    this.log.replaceChildren();
    for (const said of message.messages) this.add(said);
    this.handleSetting(message.on);
  }

  handleSetting(on) {
    this.on = on;
    this.offNote.hidden = on;
    if (this.switch) this.switch.checked = on;
    if (!this.everyone) return;
    // off: only the therapist can be written to, and the choice says so
    this.everyone.disabled = !on;
    if (!on) this.to.querySelector('input[value="therapist"]').checked = true;
  }

  /** Put one message on the list, in order, as text. */
  add(message) {
    const item = document.createElement("li");
    item.className = message.private ? "chat-message private" : "chat-message";
    if (message.mine) item.classList.add("mine");
    item.dataset.seq = String(message.seq);
    const head = document.createElement("p");
    head.className = "chat-head";
    const who = document.createElement("strong");
    who.textContent = this.who(message);
    const time = document.createElement("time");
    time.dateTime = message.at;
    time.textContent = clock(message.at);
    head.append(who, " ", time);
    if (message.private) {
      const tag = document.createElement("span");
      tag.className = "chat-private";
      tag.textContent = this.privately(message);
      head.append(" ", tag);
    }
    const text = document.createElement("p");
    text.className = "chat-text";
    text.textContent = message.text; // never markup: a link in it stays text
    item.append(head, text);
    const after = [...this.log.children].find((li) => Number(li.dataset.seq) > message.seq);
    this.log.insertBefore(item, after ?? null);
    this.empty.hidden = true;
    item.scrollIntoView?.({ block: "nearest" });
  }

  who(message) {
    if (message.mine) return t("You");
    if (!this.host && message.from_role === "therapist") return t("Your therapist");
    const person = message.from ? this.people.get(message.from) : undefined;
    return person?.name ?? ROLES[message.from_role] ?? t("Someone");
  }

  privately(message) {
    if (!message.mine) return t("(only to you)");
    if (!this.host) return t("(only to your therapist)");
    const person = message.to ? this.people.get(message.to) : undefined;
    return `(only to ${person?.name ?? ROLES[message.to_role] ?? "them"})`;
  }

  /** The session is over for this page: nothing written stays on it. */
  clear() {
    this.log.replaceChildren();
    this.announce.textContent = "";
    this.text.value = "";
    this.error.textContent = "";
    this.empty.hidden = false;
    this.people.clear();
  }
}
