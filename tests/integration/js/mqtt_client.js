// MQTT.js in Node.js against a Convoy node, for test_websocket.py.
//
//   node mqtt_client.js URL TOPIC CLIENT_ID [VERSION] [CA_FILE]
//
// Connects (MQTT 5 unless VERSION is 4), subscribes to TOPIC/#, publishes
// one message at each QoS (the QoS 2 one of 300 KB, so it spans many
// WebSocket frames and TCP segments), prints "READY" once subscribed, and
// waits for its own three messages plus one "TOPIC/external" message that
// the test publishes from another client. Then prints one JSON line of
// what it received and exits 0; exits 1 on any error or after 20 s.
'use strict';
const fs = require('fs');
const mqtt = require('mqtt');

const [url, topic, clientId, version = '5', caFile] = process.argv.slice(2);
const options = { clientId, protocolVersion: Number(version), reconnectPeriod: 0, connectTimeout: 5000 };
if (caFile) options.ca = fs.readFileSync(caFile);
const big = 'x'.repeat(300 * 1024);
const received = [];
const done = () => received.length >= 4;

const timer = setTimeout(() => {
  console.error('timed out; received ' + JSON.stringify(received.map((r) => r.topic)));
  process.exit(1);
}, 20000);

const client = mqtt.connect(url, options);
client.on('error', (e) => {
  console.error('error: ' + e.message);
  process.exit(1);
});
client.on('connect', (connack) => {
  client.subscribe(topic + '/#', { qos: 2 }, (err, granted) => {
    if (err) throw err;
    console.log('READY');
    client.publish(topic + '/q0', 'zero', { qos: 0 });
    client.publish(topic + '/q1', 'one', { qos: 1 });
    client.publish(topic + '/q2', big, { qos: 2 });
  });
});
client.on('message', (t, payload, packet) => {
  received.push({ topic: t, qos: packet.qos, size: payload.length, text: payload.length < 100 ? payload.toString() : '' });
  if (!done()) return;
  clearTimeout(timer);
  client.end(false, {}, () => {
    console.log(JSON.stringify({ received }));
    process.exit(0);
  });
});
