// The disconnection plan agreed in advance, walked through in the therapist's room when a
// young person is lost, leaves, says it is not private now or uses the quick exit: each step
// with its number to ring, when it is due, and buttons to record what came of it.

import { clock } from "./clock.js";

const CASES = {
  lost: "The young person is lost: they did not come back in time.",
  left: "The young person left in the middle of the session.",
  not_private: "The young person says it is not private now.",
  quick_exit: "The young person used the quick exit.",
};
const OUTCOMES = [
  ["tried", "Tried"],
  ["reached", "Reached"],
  ["no_answer", "No answer"],
  ["done", "Done"],
];

/** The plan's panel: shown when the server sends a `plan`, each step's outcome sent with
 * ``record({case, step, outcome})``. */
export class PlanPanel {
  /**
   * @param {HTMLElement} panel the section holding `#plan-case` and `#plan-steps`
   * @param {(step: {case: string, step: string, outcome: string}) => void} record
   */
  constructor(panel, record) {
    this.panel = panel;
    this.record = record;
    this.countdowns = new Set(); // the timeouts of the steps' "due in" lines
    this.stopped = false;
  }

  /** Walk the therapist through the plan for ``message.case``, with timers and numbers. */
  show(message) {
    if (this.stopped) return;
    this.clearCountdowns();
    this.panel.hidden = false;
    this.panel.querySelector("#plan-case").textContent = CASES[message.case] || message.case;
    const started = Date.now();
    this.panel
      .querySelector("#plan-steps")
      .replaceChildren(...message.steps.map((step) => this.step(message.case, step, started)));
    // "nearest": the alerts and the waiting room above it stay in view where they fit
    this.panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
    this.panel.querySelector("h2").focus?.();
  }

  step(kase, step, started) {
    const item = document.createElement("li");
    item.dataset.step = step.id;
    const title = document.createElement("strong");
    title.textContent = step.title;
    item.append(title);
    if (step.detail) item.append(` ${step.detail}`);
    if (step.phone) {
      const phone = document.createElement("a");
      phone.href = `tel:${step.phone.replace(/[^0-9+]/g, "")}`;
      phone.textContent = step.phone;
      phone.className = "phone";
      item.append(" ", phone);
    }
    if (step.after_seconds > 0) item.append(this.countdown(step.after_seconds, started));
    const buttons = document.createElement("span");
    buttons.className = "outcomes";
    for (const [value, label] of OUTCOMES) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.setAttribute("aria-label", `${label}: ${step.title}`);
      b.addEventListener("click", () => this.record({ case: kase, step: step.id, outcome: value }));
      buttons.append(b);
    }
    const recorded = document.createElement("span");
    recorded.className = "recorded";
    recorded.setAttribute("role", "status");
    item.append(buttons, recorded);
    return item;
  }

  /** " due in m:ss", counting down each second to " due now". */
  countdown(afterSeconds, started) {
    const timer = document.createElement("span");
    timer.className = "due";
    const tick = () => {
      const left = Math.round(afterSeconds - (Date.now() - started) / 1000);
      timer.textContent =
        left > 0
          ? ` due in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`
          : " due now";
      if (left <= 0 || this.stopped) return;
      const next = setTimeout(() => {
        this.countdowns.delete(next);
        tick();
      }, 1000);
      this.countdowns.add(next);
    };
    tick();
    return timer;
  }

  /** The server kept a step's outcome. */
  recorded(message) {
    const item = this.panel.querySelector(
      `#plan-steps [data-step="${CSS.escape(message.step)}"] .recorded`,
    );
    if (item) item.textContent = ` Recorded: ${message.outcome.replace("_", " ")} at ${clock()}.`;
  }

  clearCountdowns() {
    for (const timeout of this.countdowns) clearTimeout(timeout);
    this.countdowns.clear();
  }

  /** The session is over: the countdowns stop, and the steps stay to read (numbers too) but
   * no longer offer outcomes, which only a live room records. */
  stop() {
    this.stopped = true;
    this.clearCountdowns();
    for (const part of this.panel.querySelectorAll(".due, .outcomes")) part.remove();
    if (this.panel.hidden) return;
    const note = document.createElement("p");
    note.textContent = "The session has ended: write what came of the plan in your notes.";
    this.panel.append(note);
  }
}
