// The agreement read together: the therapist shows it on everyone's screen one part at a
// time; the server keeps which part is showing, so every page (and one coming back) shows
// the same. The therapist's card goes back and on, and says when it has been read.

/** The agreement's card on a room page; `host` for the therapist's, which leads it. */
export class Agreement {
  /** @param {import("./signal.js").Signalling} signalling
   * @param {{host?: boolean}} options */
  constructor(signalling, { host = false } = {}) {
    this.signalling = signalling;
    this.card = document.getElementById("agreement");
    this.heading = document.getElementById("agreement-heading");
    this.at = this.card.querySelector("[data-agreement-at]");
    this.parts = [...this.card.querySelectorAll("[data-agreement-section]")];
    this.section = null;
    this.host = host;
    signalling.on("agreement", (m) => this.handleAgreement(m));
    if (!host) return;
    this.back = this.card.querySelector("[data-agreement-back]");
    this.next = this.card.querySelector("[data-agreement-next]");
    this.done = this.card.querySelector("[data-agreement-done]");
    this.back.addEventListener("click", () => this.show(this.section - 1));
    this.next.addEventListener("click", () => this.show(this.section + 1));
    this.done.addEventListener("click", () =>
      this.signalling.send({ type: "agreement", done: true }),
    );
  }

  /** The therapist puts a part on everyone's screen (the first, to begin). */
  show(section = 0) {
    this.signalling.send({ type: "agreement", section });
  }

  handleAgreement(message) {
    if (typeof message.section !== "number") {
      // the reading is over: the first session's reminder to read it goes too
      this.card.hidden = true;
      this.section = null;
      if (this.host) for (const hint of document.querySelectorAll(".first-session")) hint.remove();
      return;
    }
    const first = this.section === null;
    this.section = message.section;
    this.parts.forEach((part, i) => {
      part.hidden = i !== message.section;
    });
    this.at.textContent = String(message.section + 1);
    this.card.hidden = false;
    if (this.host) {
      const last = message.section === message.of - 1;
      this.back.disabled = message.section === 0;
      this.next.hidden = last;
      this.done.textContent = last ? "We've read it together" : "Close";
      this.done.classList.toggle("primary", last);
    }
    if (first) this.heading.focus();
  }
}
