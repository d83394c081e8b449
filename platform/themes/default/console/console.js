// Grantor console: the one script, loaded from the console itself (CSP script-src 'self').
// Every page works without it; it adds a copy button beside the values a page shows once.
document.addEventListener('DOMContentLoaded', () => {
  if (!navigator.clipboard) return;
  for (const button of document.querySelectorAll('button.copy[data-copy]')) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) continue;
    button.hidden = false;
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = 'Copied';
      } catch (e) {
        button.textContent = 'Select and copy';
      }
    });
  }
});
