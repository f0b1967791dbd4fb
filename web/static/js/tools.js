// The board's toolbar: one bar of tools with short labels (move, pen, rubber, shapes, text,
// miniatures, the tray, dice, photos, undo, redo, clearing), their options in panels that open
// from it, and what can be done to the item selected. Each calls the board view.
//
// What the view offers is read from it, so a control it cannot carry out is not shown:
// ``view.tool`` (else the older ``view.mode``, pen and rubber only), ``place``, ``roll``,
// ``setBackground``, ``undo``/``redo``/``clear`` (else the operation is sent), ``onSelect``
// with ``bringToFront``/``sendToBack``/``deleteSelected``/``lockSelected``. What this person
// may do is read from ``view.canClear``, ``view.canLock`` and ``view.libraryHidden``, again
// each time the view calls ``view.onSettings``. Clearing is shown to anyone but the therapist
// only once the board has said the therapist allows it, and only while it does (never from
// the page as it was rendered, which may be out of date by the time they are admitted).

import { Panels } from "./panels.js";
import { t } from "./strings.js";

const SHAPES = ["rect", "ellipse", "line", "arrow"];

/** Wire the toolbar in ``root`` to ``view``; pictures go out through ``link.share(file)``. */
export function tools(root, view, link) {
  const wrap = root.querySelector(".board-wrap");
  const bar = root.querySelector("[role=toolbar]");
  const therapist = wrap?.dataset.people === "therapist";
  const clear = root.querySelector("[data-clear]");
  const library = root.querySelector("[data-library]");
  const selection = root.querySelector("[data-selection]");
  let chosen = null; // the item selected, as the view last said
  const panels = new Panels(bar.querySelectorAll("[aria-controls]"), {
    onOpen: (panel) => {
      if (panel.id === "panel-minis") openLibrary(panel.querySelector(".library-host"));
    },
  });
  panels.closeOnTouch(root.querySelector(".board-space"));
  const run = (name, fallback) => (typeof view[name] === "function" ? view[name]() : fallback());
  const place = (name) => {
    if (typeof view.place === "function") view.place(name);
    else view.placeSticker?.(name);
    panels.close();
  };

  /** Show each control only where the view can carry it out and this person may use it. */
  function refresh() {
    for (const button of bar.querySelectorAll("[data-needs]")) {
      const needs = button.dataset.needs;
      button.hidden = !(needs === "tool" ? "tool" in view : typeof view[needs] === "function");
    }
    if (clear) clear.hidden = !(therapist || view.canClear === true);
    if (library) library.hidden = !therapist && view.libraryHidden === true;
    if (view.background !== undefined)
      for (const b of root.querySelectorAll("[data-background]"))
        b.setAttribute(
          "aria-pressed",
          String(b.dataset.background === (view.background ?? "plain")),
        );
    if (panels.current?.hidden) panels.close();
    showSelection(chosen);
    rove(bar);
  }

  // -- tools, colours and sizes
  function setTool(tool) {
    if ("tool" in view) view.tool = tool;
    else view.mode = tool;
    for (const button of root.querySelectorAll("[data-tool]"))
      button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
    root
      .querySelector("[data-shapes]")
      ?.setAttribute("aria-pressed", String(SHAPES.includes(tool)));
  }
  for (const button of root.querySelectorAll("[data-tool]")) {
    button.addEventListener("click", () => {
      setTool(button.dataset.tool);
      if (SHAPES.includes(button.dataset.tool)) panels.close(true); // now draw it
    });
  }
  choice(root, "[data-colour]", (b) => {
    view.colour = b.dataset.colour;
    bar.style.setProperty("--pen-colour", view.colour);
  });
  choice(root, "[data-size]", (b) => {
    view.width = Number(b.dataset.size);
  });
  choice(root, "[data-text-size]", (b) => {
    view.textSize = Number(b.dataset.textSize);
  });
  bar.style.setProperty("--pen-colour", view.colour);

  // -- undo, redo, clear
  root
    .querySelector("[data-undo]")
    ?.addEventListener("click", () => run("undo", () => view.send({ op: "undo" })));
  root
    .querySelector("[data-redo]")
    ?.addEventListener("click", () => run("redo", () => view.send({ op: "redo" })));
  clear?.addEventListener("click", () => {
    if (!confirm("Clear the whole board, for everyone?")) return;
    run("clear", () => view.send({ op: "clear" }));
  });

  // -- miniatures: the library (library.js), loaded when its panel first opens
  let asked = false;
  async function openLibrary(host) {
    if (asked || !host) return;
    asked = true;
    try {
      const { openLibrary } = await import("./library.js");
      openLibrary(host, { onPick: place });
    } catch {
      asked = false; // tried again next time the panel opens
      host.querySelector("p").textContent = t("The miniatures could not be opened. Try again.");
    }
  }

  // -- the tray and dice
  choice(root, "[data-background]", (b) => {
    view.setBackground?.(b.dataset.background);
    panels.close();
  });
  for (const button of root.querySelectorAll("[data-roll]")) {
    button.addEventListener("click", () => {
      view.roll?.(Number(button.dataset.roll));
      panels.close();
    });
  }

  // -- photos: a picture from the device, or a still from the camera ("show me")
  root.querySelector("[data-snap]")?.addEventListener("click", () => {
    const video = document.getElementById("self-video");
    if (!video?.videoWidth) return;
    const still = document.createElement("canvas");
    still.width = video.videoWidth;
    still.height = video.videoHeight;
    still.getContext("2d").drawImage(video, 0, 0);
    still.toBlob((blob) => blob && link.share(blob), "image/jpeg", 0.9);
    panels.close();
  });
  const file = root.querySelector("[data-share]");
  file?.addEventListener("change", () => {
    if (file.files?.[0]) link.share(file.files[0]);
    file.value = "";
    panels.close();
  });

  // -- the item selected: front, back, lock (the therapist), delete
  function showSelection(item) {
    chosen = item;
    if (!selection) return;
    selection.hidden = !item;
    if (!item) return;
    const mayLock = therapist && (view.canLock ?? true);
    const locked = Boolean(item.locked);
    const name = item.label ?? item.name ?? item.kind ?? "item";
    selection.querySelector("[data-selection-name]").textContent = t("Selected: {name}", { name });
    const lock = selection.querySelector("[data-lock]");
    if (lock) {
      lock.hidden = !mayLock;
      lock.setAttribute("aria-pressed", String(locked));
    }
    for (const b of selection.querySelectorAll("[data-front], [data-back], [data-delete]"))
      b.hidden = locked && !mayLock;
    selection.querySelector("[data-locked-note]").hidden = !(locked && !mayLock);
  }
  selection?.querySelector("[data-front]")?.addEventListener("click", () => view.bringToFront?.());
  selection?.querySelector("[data-back]")?.addEventListener("click", () => view.sendToBack?.());
  selection
    ?.querySelector("[data-delete]")
    ?.addEventListener("click", () => view.deleteSelected?.());
  selection?.querySelector("[data-lock]")?.addEventListener("click", (event) => {
    const locked = event.currentTarget.getAttribute("aria-pressed") !== "true";
    view.lockSelected?.(locked);
    event.currentTarget.setAttribute("aria-pressed", String(locked));
  });

  // the view tells of a selection and of changed settings; whatever it was told to do
  // before (another module's hook) still happens
  const selected = view.onSelect;
  view.onSelect = (item) => {
    selected?.call(view, item);
    showSelection(item);
  };
  const settings = view.onSettings;
  view.onSettings = (...args) => {
    settings?.apply(view, args);
    refresh();
  };
  rovingKeys(bar);
  refresh();
}

/** Buttons of one choice (``selector``): the one pressed is the one chosen. */
function choice(root, selector, apply) {
  for (const button of root.querySelectorAll(selector)) {
    button.addEventListener("click", () => {
      const value = button.getAttribute(selector.slice(1, -1));
      for (const b of root.querySelectorAll(selector))
        b.setAttribute("aria-pressed", String(b.getAttribute(selector.slice(1, -1)) === value));
      apply(button);
    });
  }
}

/** One tab stop for the toolbar: the button last used, or the first shown. */
function rove(bar) {
  const shown = [...bar.querySelectorAll("button")].filter((b) => !b.hidden);
  const current = shown.find((b) => b.tabIndex === 0) ?? shown[0];
  for (const b of bar.querySelectorAll("button")) b.tabIndex = b === current ? 0 : -1;
}

/** Arrow keys, Home and End move along the toolbar (the WAI-ARIA toolbar pattern). */
function rovingKeys(bar) {
  bar.addEventListener("focusin", (event) => {
    for (const b of bar.querySelectorAll("button")) b.tabIndex = b === event.target ? 0 : -1;
  });
  bar.addEventListener("keydown", (event) => {
    const shown = [...bar.querySelectorAll("button")].filter((b) => !b.hidden);
    const at = shown.indexOf(document.activeElement);
    if (at < 0) return;
    // right to left (Arabic), the bar runs from the right: the arrows follow what is seen
    const ahead = getComputedStyle(bar).direction === "rtl" ? -1 : 1;
    const to = {
      ArrowRight: at + ahead,
      ArrowDown: at + 1,
      ArrowLeft: at - ahead,
      ArrowUp: at - 1,
      Home: 0,
      End: shown.length - 1,
    }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    shown[(to + shown.length) % shown.length].focus();
  });
}
