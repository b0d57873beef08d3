// Copy buttons on a group's page: the invite link in the read-only field before the
// button, or the text the button carries (`data-copy`: a member's invitation).
function copyByHand(text) {
  // No clipboard access (a page on http, an old browser): the older way.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  return copied;
}

for (const button of document.querySelectorAll(".copy-button")) {
  button.addEventListener("click", async () => {
    const field = button.previousElementSibling;
    const text = button.dataset.copy ?? (field instanceof HTMLInputElement ? field.value : null);
    if (text === null) return;
    const label = button.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      if (!copyByHand(text)) {
        if (field instanceof HTMLInputElement && !button.dataset.copy) field.select();
        return;
      }
    }
    button.textContent = button.dataset.copied || label;
    setTimeout(() => { button.textContent = label; }, 2000);
  });
}
