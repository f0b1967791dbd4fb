// The sand tray's library of miniatures: a search box, the shelves as tabs, and a grid of
// buttons that each put a miniature on the tray. The catalogue (shelves, names and labels)
// and the search come from the server (server/views/library.py); the pictures are <img>s of
// /miniatures/{name}.svg, loaded as they scroll into view.
//
// Laid out with flex-wrap and minimum sizes only, so that it fits a 320 px wide screen with
// no horizontal scrolling; the classes (library-*) are there for the page's style sheet.

import { t } from "./strings.js";

const CATALOGUE_URL = "/miniatures/catalogue.json";
const SEARCH_URL = "/miniatures/search";
const SEARCH_DELAY_MS = 150;
const TARGET = "44px"; // the smallest a button may be, either way
const PICTURE = 40; // a miniature's side in a button, px

let catalogue = null; // the catalogue's promise, fetched once a page
let opened = 0; // how many libraries this page has opened: their elements' ids

/**
 * The URL of miniature `name` as SVG, for drawing it on the board: any name a sticker may
 * have, the old drawings included, as the PNG export draws it (cached for a day).
 * @param {string} name
 * @returns {string}
 */
export function miniatureUrl(name) {
  return `/miniatures/${encodeURIComponent(name)}.svg`;
}

/** The catalogue, fetched once; a failed fetch is tried again next time. */
function loadCatalogue() {
  catalogue ??= fetch(CATALOGUE_URL, { credentials: "same-origin" }).then((response) => {
    if (!response.ok) throw new Error(`catalogue: ${response.status}`);
    return response.json();
  });
  catalogue.catch(() => {
    catalogue = null;
  });
  return catalogue;
}

/** An element with its class, its properties and its style (the CSP allows no style attribute). */
function make(tag, className, properties = {}, style = {}) {
  const element = document.createElement(tag);
  element.className = className;
  Object.assign(element, properties);
  Object.assign(element.style, style);
  return element;
}

/**
 * Open the library of miniatures inside `panel`: a search box, the shelves as a tab list, and
 * a grid of buttons, one a miniature, each named for screen readers ("Put older woman, medium
 * skin tone on the tray") and at least 44 × 44 px. What `panel` held is replaced.
 *
 * Shelves and search results come from the server; while they load, and if they cannot, the
 * panel says so in words (with a button to try again). Keyboard: Tab reaches the search box,
 * the selected tab and the miniatures; the arrow keys, Home and End move between tabs.
 *
 * @param {HTMLElement} panel The element to build the library in (the toolbar's panel).
 * @param {{ onPick: (name: string) => void }} options `onPick` is called with the name of the
 *   miniature picked (the `name` of a sticker operation).
 * @returns {{ close: () => void, ready: Promise<void> }} `ready` settles once the shelves are
 *   shown (or their failure is); `close()` empties `panel` and stops what is loading.
 */
export function openLibrary(panel, { onPick }) {
  const id = `library-${++opened}`;
  let shown = null; // the catalogue, once shown
  let selected = 0; // the index of the selected shelf
  let timer = 0;
  let searching = null; // the AbortController of the search under way
  const grids = new Map(); // shelf id -> its grid, built when first shown

  const root = make("div", "library", {}, { display: "flex", flexDirection: "column", gap: "8px" });
  const find = make(
    "div",
    "library-search",
    {},
    { display: "flex", flexWrap: "wrap", gap: "4px 8px", alignItems: "center" },
  );
  find.setAttribute("role", "search");
  const findLabel = make("label", "library-search-label", {
    htmlFor: `${id}-q`,
    textContent: t("Find a miniature"),
  });
  const input = make(
    "input",
    "library-search-input",
    {
      id: `${id}-q`,
      type: "search",
      autocomplete: "off",
      spellcheck: false,
      enterKeyHint: "search",
    },
    { flex: "1 1 10rem", minWidth: "0", minHeight: TARGET, boxSizing: "border-box" },
  );
  find.append(findLabel, input);
  const status = make("p", "library-status", {}, { margin: "0" });
  status.setAttribute("role", "status");
  const tabs = make("div", "library-tabs", {}, { display: "flex", flexWrap: "wrap", gap: "4px" });
  tabs.setAttribute("role", "tablist");
  tabs.setAttribute("aria-label", t("Shelves"));
  const shelf = make("div", "library-shelf", { id: `${id}-shelf` });
  shelf.setAttribute("role", "tabpanel");
  const results = make("div", "library-results", { hidden: true });
  results.setAttribute("role", "region");
  results.setAttribute("aria-label", t("Miniatures found"));
  root.append(find, status, tabs, shelf, results);
  panel.replaceChildren(root);

  const imageUrl = (name) =>
    shown ? shown.image.replace("{name}", encodeURIComponent(name)) : miniatureUrl(name);

  /** A grid of buttons for `items`, each `[name, label]`. */
  function grid(items) {
    const list = make(
      "ul",
      "library-grid",
      {},
      {
        display: "flex",
        flexWrap: "wrap",
        gap: "4px",
        listStyle: "none",
        margin: "0",
        padding: "0",
      },
    );
    for (const [name, label] of items) {
      const button = make(
        "button",
        "library-item",
        { type: "button", title: label },
        {
          minWidth: TARGET,
          minHeight: TARGET,
          padding: "2px",
          display: "inline-flex",
          alignItems: "center",
          justifyContent: "center",
        },
      );
      button.dataset.name = name;
      button.setAttribute("aria-label", t("Put {name} on the tray", { name: label }));
      const picture = make(
        "img",
        "library-picture",
        { src: imageUrl(name), alt: "", loading: "lazy", decoding: "async", draggable: false },
        { maxWidth: "100%", height: "auto" },
      );
      picture.width = picture.height = PICTURE;
      button.append(picture);
      const item = make("li", "library-cell");
      item.append(button);
      list.append(item);
    }
    return list;
  }

  /** Select shelf `index`: its tab, and its grid in the tab panel. */
  function select(index, focus = false) {
    if (!shown) return;
    selected = index;
    const buttons = tabs.querySelectorAll("[role=tab]");
    buttons.forEach((button, i) => {
      const on = i === index;
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      // seen as well as announced: bold, and a bar under it
      button.style.fontWeight = on ? "700" : "";
      button.style.boxShadow = on ? "inset 0 -4px 0 currentColor" : "";
    });
    const chosen = shown.shelves[index];
    if (!grids.has(chosen.id)) grids.set(chosen.id, grid(chosen.items));
    shelf.setAttribute("aria-labelledby", buttons[index].id);
    shelf.replaceChildren(grids.get(chosen.id));
    if (focus) buttons[index].focus();
  }

  function showShelves(data) {
    shown = data;
    tabs.replaceChildren(
      ...data.shelves.map((each, i) => {
        const tab = make(
          "button",
          "library-tab",
          { type: "button", id: `${id}-tab-${each.id}` },
          {
            minWidth: TARGET,
            minHeight: TARGET,
            display: "inline-flex",
            flexDirection: "column",
            alignItems: "center",
            justifyContent: "center",
            padding: "2px 6px",
            fontSize: "0.8rem",
          },
        );
        tab.setAttribute("role", "tab");
        tab.setAttribute("aria-controls", shelf.id);
        tab.setAttribute("aria-label", each.label);
        tab.dataset.index = String(i);
        const icon = make("img", "library-tab-icon", { src: imageUrl(each.icon), alt: "" });
        icon.width = icon.height = 28;
        tab.append(icon, make("span", "library-tab-label", { textContent: each.short }));
        return tab;
      }),
    );
    status.textContent = "";
    select(selected);
  }

  function showFailure(message) {
    status.textContent = message;
    const retry = make(
      "button",
      "library-retry",
      { type: "button", textContent: t("Try again") },
      {
        minHeight: TARGET,
      },
    );
    retry.addEventListener("click", () => {
      retry.remove();
      load();
    });
    status.after(retry);
  }

  function load() {
    status.textContent = t("Opening the shelves…");
    return loadCatalogue().then(showShelves, () =>
      showFailure(t("The miniatures could not be loaded. Check the connection and try again.")),
    );
  }

  // -- searching: results instead of the shelves while there is a query
  async function search(query) {
    searching?.abort();
    if (!query) {
      results.hidden = true;
      results.replaceChildren();
      tabs.hidden = shelf.hidden = false;
      status.textContent = "";
      return;
    }
    searching = new AbortController();
    try {
      const url = `${SEARCH_URL}?q=${encodeURIComponent(query)}`;
      const response = await fetch(url, { signal: searching.signal, credentials: "same-origin" });
      if (!response.ok) throw new Error(`search: ${response.status}`);
      const found = await response.json();
      tabs.hidden = shelf.hidden = true;
      results.hidden = false;
      results.replaceChildren(grid(found.items));
      status.textContent = found.items.length
        ? t("{count} found for “{query}”.", { count: found.items.length, query })
        : t("Nothing found for “{query}”. Try another word, or look on the shelves.", { query });
    } catch (error) {
      if (error.name === "AbortError") return;
      status.textContent = t("Searching did not work. Check the connection and try again.");
    }
  }

  function handleInput() {
    clearTimeout(timer);
    timer = setTimeout(() => search(input.value.trim()), SEARCH_DELAY_MS);
  }

  function handleClick(event) {
    const tab = event.target.closest?.("[role=tab]");
    if (tab && tabs.contains(tab)) {
      select(Number(tab.dataset.index));
      return;
    }
    const button = event.target.closest?.("button[data-name]");
    if (!button || !root.contains(button)) return;
    onPick(button.dataset.name);
  }

  function handleTabKey(event) {
    if (!shown) return;
    const last = shown.shelves.length - 1;
    const next = {
      ArrowRight: selected === last ? 0 : selected + 1,
      ArrowDown: selected === last ? 0 : selected + 1,
      ArrowLeft: selected === 0 ? last : selected - 1,
      ArrowUp: selected === 0 ? last : selected - 1,
      Home: 0,
      End: last,
    }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    select(next, true);
  }

  input.addEventListener("input", handleInput);
  root.addEventListener("click", handleClick);
  tabs.addEventListener("keydown", handleTabKey);
  const ready = load();

  return {
    ready,
    close() {
      clearTimeout(timer);
      searching?.abort();
      input.removeEventListener("input", handleInput);
      root.removeEventListener("click", handleClick);
      tabs.removeEventListener("keydown", handleTabKey);
      panel.replaceChildren();
    },
  };
}
