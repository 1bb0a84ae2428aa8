// A WCAG contrast check that runs inside the page: every visible element with its own text must
// reach 4.5:1 against the first opaque background behind it (disabled controls are exempt).
// Kept as source text because the tests compile without the DOM's types.
export const LOW_CONTRAST_TEXT = `(() => {
  const rgba = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const backgroundOf = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const problems = [];
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent.trim()).join(' ').trim();
    if (!text || !el.checkVisibility({ opacityProperty: true, visibilityProperty: true }) || el.closest(':disabled')) continue;
    const [a, b] = [luminance(rgba(getComputedStyle(el).color)), luminance(backgroundOf(el))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) problems.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' + text.slice(0, 40) + '" ' + ratio.toFixed(2) + ':1');
  }
  return problems;
})()`;
