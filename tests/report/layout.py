"""A page script (run through DevTools ``Runtime.evaluate``) that measures what makes a report
hard to read: anything wider than the viewport, tables that neither fit nor scroll inside
their own container, and text boxes that overlap inside each inline SVG plot."""

LAYOUT_JS = r"""
(() => {
  const vw = document.documentElement.clientWidth;
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll") return p;
    }
    return null;
  };
  const name = (el) => el.tagName.toLowerCase() + ": " + (el.textContent || "").trim().slice(0, 40);
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > vw + 0.5 && !scrolls(el)) wide.push(name(el));
  }
  const tables = [...document.querySelectorAll("table")].map((t) => {
    const box = scrolls(t);
    const width = t.getBoundingClientRect().width;
    const room = (t.parentElement || document.body).clientWidth;
    return {header: t.querySelector("th") ? t.querySelector("th").textContent : "",
            width, room, fits: width <= room + 0.5, scroll_container: !!box};
  });
  const overlaps = [];
  for (const svg of document.querySelectorAll("svg")) {
    const boxes = [...svg.querySelectorAll("text")]
      .filter((t) => t.textContent.trim())
      .map((t) => ({text: t.textContent.trim(), r: t.getBoundingClientRect()}));
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].r, b = boxes[j].r;
        const dx = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const dy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (dx > 1 && dy > 1) overlaps.push([svg.getAttribute("aria-label"),
                                              boxes[i].text, boxes[j].text]);
      }
    }
  }
  return {
    viewport: vw,
    scroll_width: document.documentElement.scrollWidth,
    wide, tables, overlaps,
    svgs: document.querySelectorAll("svg").length,
    texts: document.querySelectorAll("svg text").length,
  };
})()
"""
