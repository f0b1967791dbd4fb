// The family's language switch (base.html): a new language takes the place of the page in
// the browser's history instead of adding to it, so that "Exit now" (which replaces the page
// too) leaves nothing behind for Back to bring up on a shared family device.
for (const link of document.querySelectorAll(".languages a[href]")) {
  link.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    location.replace(link.href);
  });
}
