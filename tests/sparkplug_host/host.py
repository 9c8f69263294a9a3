"""A Sparkplug B host application played by pysparkplug (PyPI), an implementation
independent of the gateway's: it follows one edge node and its device, checks that births come
before data and that seq has no gap, asks for a rebirth (NCMD Node Control/Rebirth) and writes
one Boolean metric (DCMD). Prints "ready" once subscribed, then one JSON line that sums up
what it saw.

Usage: host.py BROKER_PORT GROUP EDGE DEVICE METRIC
Exit status 0 when the scenario ran to its end (the summary says what was seen), 2 on a
violation or when a step did not come within 30 s.
"""

import json
import queue
import sys
import time

import pysparkplug as spb

WAIT_S = 30.0


def main() -> int:
    port, group, edge, device, metric = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    events: "queue.Queue[spb.Message]" = queue.Queue()
    client = spb.Client(client_id="pysparkplug-host")
    connected: "queue.Queue[bool]" = queue.Queue()
    client.connect("127.0.0.1", port=int(port), blocking=False, callback=lambda c: connected.put(True))
    connected.get(timeout=WAIT_S)
    # pysparkplug has no SUBACK callback of its own: paho's tells when the subscription holds.
    subscribed: "queue.Queue[bool]" = queue.Queue()
    client._client.on_subscribe = lambda *_args: subscribed.put(True)
    client.subscribe(spb.Topic.from_str(f"spBv1.0/{group}/#"), spb.QoS.AT_LEAST_ONCE, lambda _c, m: events.put(m))
    subscribed.get(timeout=WAIT_S)
    print("ready", flush=True)
    summary = {"order": [], "seq_gaps": [], "results": [], "written": [], "rebirth_seq": None}
    last_seq = None
    node_born = device_born = False

    def follow(done) -> bool:
        nonlocal last_seq, node_born, device_born
        end = time.monotonic() + WAIT_S
        while time.monotonic() < end:
            try:
                m = events.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            kind = m.topic.message_type.name
            if kind in ("NCMD", "DCMD"):
                continue
            summary["order"].append(kind)
            p = m.payload
            if kind == "NBIRTH":
                node_born, device_born = True, False
                last_seq = p.seq
            elif kind in ("DBIRTH", "DDATA", "DDEATH") and last_seq is not None:
                if p.seq != (last_seq + 1) % 256:
                    summary["seq_gaps"].append([last_seq, p.seq])
                last_seq = p.seq
            if kind == "DBIRTH":
                if not node_born:
                    summary["violation"] = "DBIRTH before NBIRTH"
                device_born = True
            if kind == "DDATA":
                if not device_born:
                    summary["violation"] = "DDATA before DBIRTH"
                for x in p.metrics:
                    if x.name == f"{metric}/Command Result":
                        summary["results"].append(x.value)
                    elif x.name == metric:
                        summary["written"].append(x.value)
            if done(kind, p):
                return True
        return False

    if not follow(lambda k, _p: k == "DBIRTH"):
        return report(summary, "no births")
    client.publish(spb.Message(
        topic=spb.Topic(message_type=spb.MessageType.NCMD, group_id=group, edge_node_id=edge),
        payload=spb.NCmd(timestamp=spb.get_current_timestamp(), metrics=(
            spb.Metric(timestamp=spb.get_current_timestamp(), name="Node Control/Rebirth",
                       datatype=spb.DataType.BOOLEAN, value=True),)),
        qos=spb.QoS.AT_MOST_ONCE, retain=False), include_dtypes=True)

    def reborn(kind, p) -> bool:
        if kind == "NBIRTH":
            summary["rebirth_seq"] = p.seq
        return kind == "DBIRTH" and summary["rebirth_seq"] is not None

    if not follow(reborn):
        return report(summary, "no births after the rebirth request")
    client.publish(spb.Message(
        topic=spb.Topic(message_type=spb.MessageType.DCMD, group_id=group, edge_node_id=edge,
                        device_id=device),
        payload=spb.DCmd(timestamp=spb.get_current_timestamp(), metrics=(
            spb.Metric(timestamp=spb.get_current_timestamp(), name=metric,
                       datatype=spb.DataType.BOOLEAN, value=True),)),
        qos=spb.QoS.AT_MOST_ONCE, retain=False), include_dtypes=True)
    if not follow(lambda _k, _p: "terminated" in summary["results"]):
        return report(summary, "no terminated result")
    client.disconnect()
    return report(summary, None)


def report(summary, failure) -> int:
    if failure:
        summary["failure"] = failure
    print(json.dumps(summary), flush=True)
    return 2 if failure or "violation" in summary else 0


if __name__ == "__main__":
    sys.exit(main())
