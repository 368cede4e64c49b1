"""The Python half of crates/rusa-sdk/tests/differential.rs: every action here has a Rust
twin there, with the same name and the same logic, so rusa-sdk and rasa-sdk must answer
the same requests the same way."""

import datetime
from typing import Any, Dict, List, Text

from rasa_sdk import (
    Action,
    ActionExecutionRejection,
    FormValidationAction,
    Tracker,
    ValidationAction,
)
from rasa_sdk.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AgentUttered,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    FollowupAction,
    LoopInterrupted,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SessionEnded,
    SessionStarted,
    SlotSet,
    StoryExported,
    UserUttered,
    UserUtteranceReverted,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


class ActionHelloWorld(Action):
    """As shared/fixtures/moodbot/samples/sdk_actions_example.py."""

    def name(self) -> Text:
        return "action_hello_world"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(
            text=f"Hello World! you said: {tracker.latest_message.get('text')}")
        return [SlotSet("greeted", True)]


class ActionAllEvents(Action):
    """Every event constructor, with and without its optional fields."""

    def name(self) -> Text:
        return "action_all_events"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[Dict[Text, Any]]:
        when = datetime.datetime(2024, 1, 2, 3, 4, 5)
        entities = [{"entity": "city", "value": "Berlin"}]
        return [
            UserUttered("hi"),
            UserUttered(
                "hi",
                parse_data={"intent": {"name": "greet", "confidence": 0.9}, "entities": []},
                timestamp=1700000000.5,
                input_channel="rest",
            ),
            UserUttered(None),
            BotUttered(),
            BotUttered(
                "hello",
                data={"buttons": [{"title": "a", "payload": "/a"}]},
                metadata={"utter_action": "utter_greet"},
            ),
            SlotSet("city"),
            SlotSet("city", "Berlin"),
            SlotSet("people", 3),
            SlotSet("ratio", 0.25),
            SlotSet("flags", [True, False, None]),
            SlotSet("nested", {"a": {"b": [1, 2.5, "x"]}}, timestamp=1700000001.0),
            Restarted(),
            Restarted(timestamp=1700000002.0),
            SessionStarted(),
            SessionEnded(),
            SessionEnded(metadata={"reason": "timeout"}),
            UserUtteranceReverted(),
            AllSlotsReset(),
            ReminderScheduled("remind", when),
            ReminderScheduled("remind", when, entities=entities, name="r1",
                              kill_on_user_message=False),
            ReminderScheduled("remind", when, entities={"city": "Berlin"}, name="r2"),
            ReminderCancelled(),
            ReminderCancelled(name="r1", intent_name="remind", entities=entities),
            ActionReverted(),
            StoryExported(),
            FollowupAction("action_hello_world"),
            ConversationPaused(),
            ConversationResumed(),
            ActionExecuted("action_hello_world"),
            ActionExecuted("action_hello_world", policy="RulePolicy", confidence=0.75),
            AgentUttered(),
            AgentUttered("agent text", data={"k": [1]}),
            ActiveLoop("trip_form"),
            ActiveLoop(None),
            LoopInterrupted(True),
            LoopInterrupted(False),
            ActionExecutionRejected("action_hello_world"),
            ActionExecutionRejected("action_hello_world", policy="TEDPolicy",
                                    confidence=0.5),
            # Hand-made dicts: kept when `event` is truthy, dropped otherwise.
            {"event": "custom_kind", "anything": [1]},
            {"name": "no_event_key"},
            {"event": "", "name": "empty_event"},
            {"event": None},
        ]


class ActionMessages(Action):
    """Every kind of dispatcher message."""

    def name(self) -> Text:
        return "action_messages"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[Dict[Text, Any]]:
        button = {"title": "Yes", "payload": "/affirm"}
        dispatcher.utter_message(text="plain text")
        dispatcher.utter_message()
        dispatcher.utter_message(response="utter_greet_name", name="Ada", count=3,
                                 nested={"a": [1, None]})
        dispatcher.utter_message(text="Pick one",
                                 buttons=[button, {"title": "No", "payload": "/deny"}])
        dispatcher.utter_message(image="https://example.com/cat.png")
        dispatcher.utter_message(json_message={"kind": "card", "items": [1, 2]})
        dispatcher.utter_message(attachment={"type": "file",
                                             "url": "https://example.com/f.pdf"})
        dispatcher.utter_message(attachment="https://example.com/f.pdf")
        dispatcher.utter_message(elements=[{"title": "e1", "subtitle": "s1",
                                            "buttons": [button]}])
        dispatcher.utter_message(text="custom overridden", custom={"overridden": True})
        dispatcher.utter_message(
            text="everything",
            image="https://example.com/all.png",
            json_message={"all": True},
            response="utter_all",
            attachment="https://example.com/all.pdf",
            buttons=[button],
            elements=[{"title": "e"}],
            extra_field="extra",
        )
        dispatcher.utter_message(text="", buttons=[], elements=[], json_message={})
        return []


class ActionTrackerReport(Action):
    """The answers of the Tracker helpers, as one JSON message."""

    def name(self) -> Text:
        return "action_tracker_report"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[Dict[Text, Any]]:
        entities = tracker.get_latest_entity_values
        report = {
            "sender_id": tracker.sender_id,
            "get_slot_city": tracker.get_slot("city"),
            "get_slot_people": tracker.get_slot("people"),
            "get_slot_missing": tracker.get_slot("no_such_slot"),
            "current_slot_values": tracker.current_slot_values(),
            "city": list(entities("city")),
            "city_destination": list(entities("city", entity_role="destination")),
            "city_origin": list(entities("city", entity_role="origin")),
            "city_group_1": list(entities("city", entity_group="1")),
            "city_destination_group_1": list(
                entities("city", entity_role="destination", entity_group="1")),
            "date": list(entities("date")),
            "intent": tracker.get_intent_of_latest_message(),
            "intent_with_fallback": tracker.get_intent_of_latest_message(
                skip_fallback_intent=False),
            "active_loop_name": tracker.active_loop_name,
            "is_paused": tracker.is_paused(),
            "followup_action": tracker.followup_action,
            "latest_action_name": tracker.latest_action_name,
            "latest_input_channel": tracker.get_latest_input_channel(),
            "events": len(tracker.events),
            "idx_after_latest_restart": tracker.idx_after_latest_restart(),
            "events_after_latest_restart": len(tracker.events_after_latest_restart()),
            "applied_events_count": len(tracker.applied_events()),
            "applied_events": tracker.applied_events(),
            "slots_to_validate": tracker.slots_to_validate(),
            "last_executed_action_has_a3": tracker.last_executed_action_has("action_a3"),
            "last_executed_action_has_a1_skip_1": tracker.last_executed_action_has(
                "action_a1", skip=1),
            "last_user_event": tracker.get_last_event_for("user"),
            "last_action_excluding": tracker.get_last_event_for(
                "action", exclude=["action_listen", "action_a3"]),
            "second_last_action": tracker.get_last_event_for("action", skip=1),
            "last_slot_excluding_city": tracker.get_last_event_for(
                "slot", exclude=["city"]),
            "stack": tracker.stack,
            "user_id": tracker.user_id,
            "current_state": tracker.current_state(),
        }
        dispatcher.utter_message(json_message=report)
        return [SlotSet("intent", tracker.get_intent_of_latest_message())]


class ActionDomainIntents(Action):
    """Says how many intents the domain it was given has (the cached one, when the
    request has none)."""

    def name(self) -> Text:
        return "action_domain_intents"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[Dict[Text, Any]]:
        intents = (domain or {}).get("intents", [])
        dispatcher.utter_message(text=f"the domain has {len(intents)} intents")
        return []


class ActionRejectDefault(Action):
    def name(self) -> Text:
        return "action_reject_default"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="never sent")
        raise ActionExecutionRejection(self.name())


class ActionRejectCustom(Action):
    def name(self) -> Text:
        return "action_reject_custom"

    def run(self, dispatcher, tracker, domain):
        raise ActionExecutionRejection(self.name(), "I cannot do that right now")


class ActionRejectEmptyMessage(Action):
    def name(self) -> Text:
        return "action_reject_empty_message"

    def run(self, dispatcher, tracker, domain):
        raise ActionExecutionRejection(self.name(), "")


class ActionFail(Action):
    def name(self) -> Text:
        return "action_fail"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="never sent")
        raise ValueError("the weather service is down")


class ValidateGlobalSlots(ValidationAction):
    """`action_validate_slot_mappings`: the global slots."""

    def validate_mood(self, slot_value: Any, dispatcher: CollectingDispatcher,
                      tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if slot_value == "meh":
            dispatcher.utter_message(text="Tell me more about 'meh'.")
            return {"mood": None}
        return {"mood": str(slot_value).lower()}

    def extract_nickname(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                         domain: DomainDict) -> Dict[Text, Any]:
        nick = next(tracker.get_latest_entity_values("nick"), None)
        return {"nickname": nick} if nick is not None else {}


class ValidateTripForm(FormValidationAction):
    """The domain's required slots: city, people, date (date has no validator; note is
    not required, so its validator is never called)."""

    def name(self) -> Text:
        return "validate_trip_form"

    def validate_city(self, slot_value: Any, dispatcher: CollectingDispatcher,
                      tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if str(slot_value).lower() == "atlantis":
            dispatcher.utter_message(text="Atlantis is not a real city.")
            return {"city": None}
        return {"city": str(slot_value).upper()}

    def validate_people(self, slot_value: Any, dispatcher: CollectingDispatcher,
                        tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        text = str(slot_value)
        if text.isdigit():
            return {"people": int(text)}
        dispatcher.utter_message(text=f"'{text}' is not a number of people.")
        return {"people": None}

    def validate_note(self, slot_value: Any, dispatcher: CollectingDispatcher,
                      tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return {"note": "validated"}


class ValidateBookingForm(FormValidationAction):
    """Overrides required_slots: the domain's (guest), then room, then breakfast for a
    suite; room is extracted from the message."""

    def name(self) -> Text:
        return "validate_booking_form"

    async def required_slots(self, domain_slots: List[Text],
                             dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> List[Text]:
        extra = ["room"]
        if tracker.get_slot("room") == "suite":
            extra.append("breakfast")
        return domain_slots + extra

    def extract_room(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     domain: DomainDict) -> Dict[Text, Any]:
        text = tracker.latest_message.get("text") or ""
        if "suite" in text:
            return {"room": "suite"}
        if "single" in text:
            return {"room": "single"}
        return {}

    def validate_guest(self, slot_value: Any, dispatcher: CollectingDispatcher,
                       tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return {"guest": str(slot_value).upper()}
