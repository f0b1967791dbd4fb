// Disclosure panels: a button (aria-expanded, aria-controls) opens the panel it controls, at
// most one panel of a set open at a time. The button again, the panel's close button, Escape,
// or a touch on the board closes it.

/** A set of disclosure buttons and the panels they open, one open at a time. */
export class Panels {
  /**
   * @param {Iterable<HTMLButtonElement>} buttons each with aria-controls naming its panel
   * @param {{ onOpen?: (panel: HTMLElement, button: HTMLButtonElement) => void }} [hooks]
   */
  constructor(buttons, hooks = {}) {
    this.buttons = [...buttons];
    this.onOpen = hooks.onOpen;
    /** @type {HTMLButtonElement | null} */
    this.current = null;
    for (const button of this.buttons) {
      const panel = this.panelOf(button);
      if (!panel) continue;
      button.addEventListener("click", () => this.toggle(button));
      for (const close of panel.querySelectorAll("[data-close]"))
        close.addEventListener("click", () => this.close(true));
      panel.addEventListener("keydown", (event) => {
        if (event.key !== "Escape") return;
        event.preventDefault();
        this.close(true);
      });
    }
  }

  panelOf(button) {
    return document.getElementById(button.getAttribute("aria-controls"));
  }

  /** Open ``button``'s panel, or close it if it is the one open. */
  toggle(button) {
    if (this.current === button) {
      this.close();
      return;
    }
    this.close();
    const panel = this.panelOf(button);
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    this.current = button;
    this.onOpen?.(panel, button);
  }

  /** Close the open panel; ``refocus`` puts keyboard focus back on its button. */
  close(refocus = false) {
    const button = this.current;
    if (!button) return;
    this.panelOf(button).hidden = true;
    button.setAttribute("aria-expanded", "false");
    this.current = null;
    if (refocus) button.focus();
  }

  /** Close the open panel when ``element`` is touched (the board: back to playing). */
  closeOnTouch(element) {
    element?.addEventListener("pointerdown", () => this.close(), { capture: true });
  }
}
