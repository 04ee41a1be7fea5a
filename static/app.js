// Live updates for /app: the page subscribes to /ws/items with its session
// cookie and shows items as they are created, changed and deleted. The page
// works without this script; the script adds no HTML path of its own: a
// description is the stored, sanitized HTML the page itself renders.
(function () {
  "use strict";

  var list = document.getElementById("items");
  var heading = document.getElementById("list-heading");
  if (!list || !heading || !("WebSocket" in window)) {
    return;
  }
  var total = Number(list.getAttribute("data-total")) || 0;
  var retries = 0;

  // Numbers as the page's template prints them (2.0, 2.5).
  function number(value) {
    return Number.isInteger(value) ? value.toFixed(1) : String(value);
  }

  function showTotal() {
    heading.textContent = total === 1 ? "1 item" : total + " items";
    var empty = document.getElementById("no-items");
    if (empty) {
      empty.hidden = total !== 0;
    }
  }

  function render(item) {
    var article = document.createElement("article");
    article.className = "item";
    article.setAttribute("data-id", String(item.id));
    var name = document.createElement("h3");
    name.textContent = item.name;
    article.appendChild(name);
    var price = document.createElement("p");
    price.className = "price";
    price.textContent = number(item.price) + (item.tax === null ? "" : " + " + number(item.tax) + " tax");
    article.appendChild(price);
    if (item.description) {
      var description = document.createElement("div");
      description.className = "description";
      description.innerHTML = item.description;
      article.appendChild(description);
    }
    return article;
  }

  function find(id) {
    return list.querySelector('article[data-id="' + Number(id) + '"]');
  }

  function apply(message) {
    var existing = find(message.item.id);
    if (message.event === "created" && !existing) {
      list.insertBefore(render(message.item), list.firstChild);
      total += 1;
    } else if (message.event === "updated" && existing) {
      list.replaceChild(render(message.item), existing);
    } else if (message.event === "deleted" && existing) {
      list.removeChild(existing);
      total = Math.max(0, total - 1);
    }
    showTotal();
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/items", ["rampart.v1"]);
    socket.addEventListener("open", function () {
      retries = 0;
      document.body.setAttribute("data-live", "on");
    });
    socket.addEventListener("message", function (event) {
      try {
        apply(JSON.parse(event.data));
      } catch (err) {
        // Not an event this page knows; ignore it.
      }
    });
    socket.addEventListener("close", function (event) {
      document.body.setAttribute("data-live", "off");
      if (event.code === 1008) {
        // The session ended or events were missed: the page knows what next
        // (the list again, or the way to /login).
        window.location.reload();
      } else if (retries < 5) {
        retries += 1;
        window.setTimeout(connect, 1000 * retries);
      }
    });
  }

  connect();
})();
