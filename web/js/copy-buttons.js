// Copy buttons next to read-only fields (the invite links on a group's page).
for (const button of document.querySelectorAll('.copy-button')) {
  button.addEventListener('click', async () => {
    const field = button.previousElementSibling;
    if (!(field instanceof HTMLInputElement)) return;
    const label = button.textContent;
    try {
      await navigator.clipboard.writeText(field.value);
    } catch {
      field.select(); // no clipboard access (http, old browser): select for Ctrl+C
      return;
    }
    button.textContent = button.dataset.copied || label;
    setTimeout(() => { button.textContent = label; }, 2000);
  });
}
