// The inbox without reloading: every few seconds ask this server (same origin, the session cookie; no token in
// the browser) for the cards that need an action, and add the ones not on the page yet, announcing them in words.
(function () {
  "use strict";
  var cards = document.getElementById("cards");
  if (!cards || !window.fetch) { return; }
  var url = cards.getAttribute("data-live-url");
  var news = document.getElementById("live-news");
  var count = document.getElementById("count");
  var EVERY_MS = 3000;

  function shown() {
    var ids = {};
    cards.querySelectorAll("[data-referral-id]").forEach(function (c) { ids[c.getAttribute("data-referral-id")] = true; });
    return ids;
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 401) {  // the session ended: say so once and stop asking
          news.textContent = "登录已失效，请刷新页面重新登录";
          return "stop";
        }
        return r.ok ? r.json() : null;
      })
      .then(function (answer) {
        if (answer === "stop") { throw "stop"; }
        if (!answer) { return; }
        var ids = shown();
        var added = 0;
        answer.cards.forEach(function (card) {
          if (ids[card.referral_id]) { return; }
          // The fragment is rendered by the server from its own template, with Jinja's escaping.
          var holder = document.createElement("div");
          holder.innerHTML = card.html;
          var article = holder.firstElementChild;
          if (!article) { return; }
          article.classList.add("new");
          cards.insertBefore(article, cards.firstChild);
          added += 1;
        });
        if (added) {
          var empty = document.getElementById("empty");
          if (empty) { empty.remove(); }
          news.textContent = "新到 " + added + " 件，已加在列表最前（标有“新到”）";
          count.textContent = "共 " + cards.querySelectorAll("[data-referral-id]").length + " 件";
        }
      })
      .then(function () { window.setTimeout(poll, EVERY_MS); },
            function (why) { if (why !== "stop") { window.setTimeout(poll, EVERY_MS); } });
  }
  window.setTimeout(poll, EVERY_MS);
}());
