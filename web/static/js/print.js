// The visit card's print button (no inline script: the page's CSP forbids it).
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-action=print]")) window.print();
});
