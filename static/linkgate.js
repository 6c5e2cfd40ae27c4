/* linkgate drop-in for County pages: off-site links go through the gate, and say that they leave.

   One tag:  <script src="https://GATE/static/linkgate.js" data-gate="https://GATE" defer></script>
   Options, as attributes of that tag (docs/dropin.md):
     data-county  County domains, each with its subdomains ("missoulacounty.us co.missoula.mt.us")
     data-skip    a CSS selector of further links (or their containers) to leave alone
     data-label   the text screen readers hear after an off-site link

   A link's href stays the real destination: hover, "Copy link" and bookmarks show it. Only for the
   instant a link is followed (click, middle-click, Ctrl/Cmd/Shift-click, Enter) does it point at
   GATE/go?url=..., and it is put back at once. Right-clicks and drags are never touched. Nothing here
   changes a link's visible text or the focus order, and there is no inline script or style: styles are
   set through the DOM, which a strict Content-Security-Policy allows. Without this script (or
   JavaScript) links simply go straight to their destination. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.URL || !window.MutationObserver || !Element.prototype.closest ||
      !Event.prototype.composedPath) { return; }

  function option(name) { return script.getAttribute("data-" + name); }

  var gate = new URL(option("gate") || script.src, location.href);
  if (!/^https?:$/.test(gate.protocol)) { return; }
  // data-gate is server.public_url, a path allowed; without it, the gate is where this script came from
  // (GATE/static/linkgate.js, GATE's path included). Either way the gate answers at GATE/go.
  var go = gate.origin + gate.pathname.replace(option("gate") ? /\/+$/ : /\/static\/[^\/]*$/, "") + "/go";
  var county = (option("county") || "missoulacounty.us co.missoula.mt.us").toLowerCase().split(/[\s,]+/)
    .map(function (domain) { return domain.replace(/^\*?\.|\.$/g, ""); }).filter(Boolean);
  var skip = '[data-linkgate="skip"]' + (option("skip") ? "," + option("skip") : "");
  var label = option("label") || "(leaves the Missoula County website)";
  var LINKS = "a[href],area[href]";
  var SVG = "http://www.w3.org/2000/svg";
  var swapped = [];

  document.querySelector(skip); // a mistyped data-skip stops here, loudly, before any link is changed

  function parse(href) {
    try { return new URL(href, document.baseURI); } catch (error) { return null; }
  }

  // SVG links keep their address in an SVGAnimatedString.
  function address(link) {
    return parse(typeof link.href === "string" ? link.href : link.href.baseVal);
  }

  function isCounty(host) {
    host = host.replace(/\.$/, "");
    return host === location.hostname || county.some(function (domain) {
      return host === domain || host.slice(-domain.length - 1) === "." + domain;
    });
  }

  function isOffsite(url) {
    return !!url && /^https?:$/.test(url.protocol) && !isCounty(url.hostname) && url.host !== gate.host;
  }

  function set(link, name, value) {
    if (value === null) { link.removeAttribute(name); } else { link.setAttribute(name, value); }
  }

  function restore() {
    var saved;
    while ((saved = swapped.pop())) {
      set(saved[0], "href", saved[1]);
      set(saved[0], "rel", saved[2]);
      set(saved[0], "referrerpolicy", saved[3]);
    }
  }

  function route(event) {
    // Only the primary and middle buttons follow a link; Alt-click saves it, which needs the real one.
    if (event.button > 1 || event.altKey) { return; }
    // The innermost link the event passed through, also inside a web component's (open) shadow root.
    var link = event.composedPath().filter(function (node) {
      return node.matches && node.matches(LINKS);
    })[0];
    var url = link && !link.closest(skip) && address(link);
    if (!isOffsite(url)) { return; }
    var rel = link.getAttribute("rel");
    swapped.push([link, link.getAttribute("href"), rel, link.getAttribute("referrerpolicy")]);
    link.setAttribute("href", go + "?url=" + encodeURIComponent(url.href));
    // The gate trusts a click whose Referer is a County page. Ask for the page's origin, never its path,
    // even where the page or the link says no-referrer; the gate sends no Referer on to the destination.
    link.setAttribute("referrerpolicy", "strict-origin");
    if (rel) { link.setAttribute("rel", rel.replace(/\bnoreferrer\b/gi, "noopener")); }
    setTimeout(restore, 0);
  }

  function mark(link) {
    // Image map areas and SVG links are routed but not marked: they have no room for the marks.
    if (!(link instanceof HTMLAnchorElement) || link.querySelector(".linkgate-note") || link.closest(skip)) {
      return;
    }
    var url = address(link);
    // Links already through the gate are marked by where they lead.
    if (url && url.origin + url.pathname === go) { url = parse(url.searchParams.get("url") || ""); }
    if (!isOffsite(url)) { return; }
    link.classList.add("linkgate-external");
    if (link.textContent.trim()) { link.appendChild(icon()); } // an image link keeps its look
    var note = document.createElement("span");
    note.className = "linkgate-note";
    note.textContent = " " + label;
    // Visually hidden, still read out.
    note.style.cssText = "position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;" +
      "overflow:hidden;clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap";
    link.appendChild(note);
  }

  // An arrow leaving a box, as on government sites; drawn in the link's own colour.
  function icon() {
    var svg = document.createElementNS(SVG, "svg");
    var path = document.createElementNS(SVG, "path");
    [["class", "linkgate-icon"], ["viewBox", "0 0 16 16"], ["width", "0.75em"], ["height", "0.75em"],
      ["aria-hidden", "true"]].forEach(function (pair) {
      svg.setAttribute(pair[0], pair[1]);
    });
    [["d", "M7 3H3v10h10V9M9 2h5v5M14 2 7 9"], ["fill", "none"], ["stroke", "currentColor"],
      ["stroke-width", "2"]].forEach(function (pair) {
      path.setAttribute(pair[0], pair[1]);
    });
    svg.style.marginLeft = "0.2em";
    svg.appendChild(path);
    return svg;
  }

  function scan(root) {
    if (root.nodeType !== 1) { return; }
    if (root.matches(LINKS)) { mark(root); }
    root.querySelectorAll(LINKS).forEach(mark);
  }

  // mouseup as well as click: some browsers open a middle-clicked link before its auxclick.
  ["mouseup", "click", "auxclick"].forEach(function (type) {
    window.addEventListener(type, route, true);
  });
  // Links added later are marked as they arrive (followed ones are routed in any case).
  new MutationObserver(function (records) {
    records.forEach(function (record) {
      if (record.type === "attributes") { scan(record.target); } else { record.addedNodes.forEach(scan); }
    });
  }).observe(document.documentElement, { childList: true, subtree: true, attributeFilter: ["href"] });
  scan(document.documentElement);
})();
