/* Fills in the notice's privacy section when the lookup finishes after the page was sent.
   The page works without it: a "Check again" link reloads. Text only: nothing from the API is
   inserted as HTML, and only http(s) links are used. */
(function () {
  "use strict";
  var section = document.getElementById("privacy");
  var status = document.getElementById("privacy-status");
  if (!section || !status || !section.dataset.siteApi || !window.fetch) { return; }
  var api = section.dataset.siteApi;
  var domain = document.querySelector("#destination .domain");
  var label = section.dataset.linkLabel || "Read the privacy policy of ";
  var tries = 0;

  function show(facts) {
    var paragraph = document.createElement("p");
    if (facts.privacy_url && /^https?:\/\//i.test(facts.privacy_url)) {
      var link = document.createElement("a");
      link.id = "privacy-link";
      link.href = facts.privacy_url;
      link.rel = "noopener noreferrer";
      link.textContent = label + (domain ? domain.textContent : facts.host);
      paragraph.appendChild(link);
    } else {
      paragraph.textContent = section.dataset.noneText ||
        "We could not find a privacy policy on this site. Look for one before you share anything about yourself.";
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
