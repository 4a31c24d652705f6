/* klantsignaal page-feedback widget: three smileys (goed – matig – slecht) and a comment.
   Include with one line:
     <script src="https://klantsignaal.example.nl/widget.js" data-dienst-code="paspoort"
             data-dienst-naam="Paspoort aanvragen" async></script>
   It posts to the same server (CORS; the page's origin must be in KLANTSIGNAAL_WIDGET_ORIGINS).
   Only DOM APIs, no innerHTML: nothing a visitor types is ever parsed as HTML. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.fetch || !window.URLSearchParams) { return; }
  var base = new URL(script.src, document.baseURI).origin;
  var english = (script.getAttribute("data-taal") || "").toLowerCase().indexOf("en") === 0;
  var T = english ? {
    title: "What do you think of this page?", goed: "Good", matig: "Okay", slecht: "Bad",
    comment: "Would you like to explain? (optional)",
    hint: "Please do not write personal details, such as your BSN or address.",
    send: "Send", thanks: "Thank you for your feedback!", choose: "Choose a smiley: good, okay or bad.",
    failed: "Sending did not work. Please try again later.", errorPrefix: "Error: "
  } : {
    title: "Wat vindt u van deze pagina?", goed: "Goed", matig: "Matig", slecht: "Slecht",
    comment: "Wilt u iets toelichten? (niet verplicht)",
    hint: "Schrijf geen persoonlijke gegevens, zoals uw BSN of adres.",
    send: "Versturen", thanks: "Bedankt voor uw reactie!", choose: "Kies een smiley: goed, matig of slecht.",
    failed: "Versturen lukte niet. Probeer het later nog eens.", errorPrefix: "Fout: "
  };
  var id = "ks-" + Math.random().toString(36).slice(2, 9);

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  var css = el("link", {rel: "stylesheet", href: base + "/citizen-static/widget.css"});
  document.head.appendChild(css);

  var status = el("p", {"class": "ks-status", role: "status", id: id + "-status"});
  var error = el("p", {"class": "ks-error", id: id + "-fout", hidden: "hidden"});
  var faces = {goed: "\uD83D\uDE42", matig: "\uD83D\uDE10", slecht: "\uD83D\uDE41"};
  var options = ["goed", "matig", "slecht"].map(function (value) {
    var input = el("input", {type: "radio", name: "beoordeling", value: value, id: id + "-" + value});
    return el("label", {"class": "ks-smiley", "for": id + "-" + value}, [
      input, el("span", {"class": "ks-face", "aria-hidden": "true"}, [faces[value]]), T[value]
    ]);
  });
  var group = el("fieldset", {"class": "ks-group"}, [
    el("legend", {"class": "ks-title"}, [T.title]), error, el("div", {"class": "ks-smileys"}, options)
  ]);
  var textarea = el("textarea", {id: id + "-opmerking", name: "opmerking", rows: "3",
                                 "aria-describedby": id + "-hint"});
  var form = el("form", {"class": "ks-form", novalidate: "novalidate", method: "post",
                         action: base + "/feedback"}, [
    group,
    el("label", {"class": "ks-label", "for": id + "-opmerking"}, [T.comment]),
    el("p", {"class": "ks-hint", id: id + "-hint"}, [T.hint]),
    textarea,
    el("button", {type: "submit", "class": "ks-button"}, [T.send])
  ]);
  var box = el("section", {"class": "ks-widget", "aria-label": T.title}, [form, status]);
  script.parentNode.insertBefore(box, script.nextSibling);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = form.querySelector("input[name=beoordeling]:checked");
    if (!chosen) {
      error.textContent = "";
      error.appendChild(el("span", {"class": "ks-vh"}, [T.errorPrefix]));
      error.appendChild(document.createTextNode(T.choose));
      error.removeAttribute("hidden");
      group.setAttribute("aria-describedby", id + "-fout");
      form.querySelector("input[name=beoordeling]").focus();
      return;
    }
    var body = new URLSearchParams({
      beoordeling: chosen.value,
      opmerking: textarea.value,
      pagina: location.origin + location.pathname,
      dienstcode: script.getAttribute("data-dienst-code") || "",
      dienstnaam: script.getAttribute("data-dienst-naam") || "",
      antwoord: "json"
    });
    fetch(base + "/feedback", {method: "POST", body: body, mode: "cors", credentials: "omit"})
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        form.setAttribute("hidden", "hidden");
        status.textContent = T.thanks;
      })
      .catch(function () { status.textContent = T.failed; });
  });
}());
