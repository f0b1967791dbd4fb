// The family's language in the page's scripts: the page carries the translations of what its
// scripts show (`<script type="application/json" id="strings">`, filled by the server from
// the catalogue of its language). A message missing from it, or a page without it (staff
// pages), shows the English it is written in.

const node = document.getElementById("strings");
const table = node ? JSON.parse(node.textContent) : {};

/**
 * `text` in the page's language, with each `{name}` in it replaced by `values[name]`.
 * @param {string} text the English, which is also the key (`pybabel extract` finds `t("...")`)
 * @param {Record<string, string | number>} [values]
 * @returns {string}
 */
export function t(text, values = {}) {
  const translated = Object.hasOwn(table, text) ? table[text] : text;
  return translated.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(values, name) ? String(values[name]) : whole,
  );
}
