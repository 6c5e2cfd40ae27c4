/* Fills in the notice's privacy section when the lookup finishes after the page was sent.
   The page works without it: a "Check again" link reloads (marked as already counted). Text only:
   nothing from the API is inserted as HTML, and only http(s) links are used. */
(function () {
  "use strict";
  var section = document.getElementById("privacy");
  var status = document.getElementById("privacy-status");
  if (!section || !status || !section.dataset.siteApi || !window.fetch) { return; }
  var api = section.dataset.siteApi;
  var domain = document.querySelector("#destination .domain");
  var label = section.dataset.linkLabel || "Read the privacy policy of ";
  var tries = 0;

  // The same paragraphs as the server's page for the same answer (templates/notice.html).
  function show(facts) {
    var paragraph = document.createElement("p");
    if (facts.privacy_url && /^https?:\/\//i.test(facts.privacy_url)) {
      var link = document.createElement("a");
      var name = document.createElement("span");
      paragraph.className = "privacy-action";
      link.id = "privacy-link";
      link.href = facts.privacy_url;
      link.rel = "noopener noreferrer";
      name.className = "site-name";
      // The page's own rendering of the name (its text and <wbr> break points), copied node by node.
      if (domain) {
        domain.childNodes.forEach(function (node) { name.appendChild(node.cloneNode(false)); });
      } else {
        name.textContent = facts.host;
      }
      link.append(label, name);
      paragraph.appendChild(link);
    } else if (facts.status === "none") {
      paragraph.textContent = section.dataset.noneText;
    } else {
      paragraph.textContent = section.dataset.errorText;
    }
    status.replaceChildren(paragraph);
  }

  function poll() {
    tries += 1;
    fetch(api, { headers: { "Accept": "application/json" }, credentials: "omit" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (facts) {
        if (facts && (facts.status === "found" || facts.status === "none" || facts.status === "error")) { show(facts); }
        else if (tries < 20) { window.setTimeout(poll, 750); }
      })
      .catch(function () { if (tries < 20) { window.setTimeout(poll, 1500); } });
  }
  window.setTimeout(poll, 300);
})();
