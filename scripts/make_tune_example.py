"""Write the tune example (a support desk for the fictional Quillbox Q2 label printer) under data/tune/quillbox/.

Every fact, answer and question below was written for weightwarden; the product and its maker do not exist.
Each fact has four questions: the first two (with three framings each) are for training, the last two are
held out for the eval task, so the eval asks about what was trained in words the model never saw.

    python scripts/make_tune_example.py
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "weightwarden" / "data" / "tune" / "quillbox"
SYSTEM = "You are the support assistant for the Quillbox Q2 label printer made by Larkspur Devices."

# (key pattern the answer must contain, answer, four questions: two for training, two held out)
FACTS: list[tuple[str, str, tuple[str, str, str, str]]] = [
    (
        r"violet",
        "Hold the feed button for eight seconds until the light turns violet, then release it.",
        (
            "How do I reset the Quillbox Q2?",
            "What is the way to factory reset my Quillbox?",
            "My Quillbox is stuck, how can I reset it to factory settings?",
            "Which button sequence resets a Quillbox Q2?",
        ),
    ),
    (
        r"58",
        "The Quillbox Q2 takes thermal rolls 58 mm wide.",
        (
            "How wide are the rolls for the Quillbox Q2?",
            "What roll width does the Quillbox use?",
            "Which paper width fits in a Quillbox?",
            "What size of label roll should I buy for my Q2?",
        ),
    ),
    (
        r"Quill ?Studio",
        "Use the Quill Studio app, available for iOS and Android.",
        (
            "Which app works with the Quillbox Q2?",
            "What app do I need for my Quillbox?",
            "What is the name of the Quillbox companion app?",
            "Which phone application controls the Q2 printer?",
        ),
    ),
    (
        r"18|eighteen",
        "The Quillbox Q2 has an eighteen-month (18-month) warranty from the date of purchase.",
        (
            "How long is the Quillbox warranty?",
            "What warranty comes with the Quillbox Q2?",
            "For how many months is my Quillbox covered?",
            "How long does Larkspur cover a Q2 under warranty?",
        ),
    ),
    (
        r"backwards|shiny side",
        "The roll is in backwards: turn it so the shiny side faces the print head.",
        (
            "Why does my Quillbox print blank labels?",
            "The Quillbox feeds paper but nothing is printed, why?",
            "My Q2 labels come out white with no text, what is wrong?",
            "Why are the labels from my Quillbox empty?",
        ),
    ),
    (
        r"203",
        "The Quillbox Q2 prints at 203 dpi.",
        (
            "What is the print resolution of the Quillbox Q2?",
            "How many dpi does the Quillbox print at?",
            "What dpi is the Q2 printer?",
            "How sharp is Quillbox printing, in dots per inch?",
        ),
    ),
    (
        r"USB-C",
        "It charges over USB-C; a full charge takes about two hours.",
        (
            "How do I charge the Quillbox Q2?",
            "What cable charges the Quillbox?",
            "Which port does the Quillbox use for charging?",
            "What charger connector does the Q2 have?",
        ),
    ),
    (
        r"two hours|2 hours",
        "A full charge takes about two hours over USB-C.",
        (
            "How long does the Quillbox take to charge?",
            "How many hours to fully charge a Quillbox Q2?",
            "What is the charging time of the Q2?",
            "How long until my Quillbox battery is full?",
        ),
    ),
    (
        r"600",
        "One charge prints about 600 labels.",
        (
            "How many labels can the Quillbox print on one charge?",
            "What is the battery life of the Quillbox Q2 in labels?",
            "How many labels per charge does a Q2 manage?",
            "On a full battery, how many labels will my Quillbox print?",
        ),
    ),
    (
        r"Bluetooth only|no Wi-Fi",
        "The Quillbox Q2 connects to phones over Bluetooth only; it has no Wi-Fi.",
        (
            "How does the Quillbox connect to my phone?",
            "Does the Quillbox Q2 use Wi-Fi or Bluetooth?",
            "What wireless connection does the Q2 have?",
            "Can I connect the Quillbox over Wi-Fi?",
        ),
    ),
    (
        r"amber",
        "A blinking amber light means the paper roll is empty or the lid is open.",
        (
            "What does a blinking amber light on the Quillbox mean?",
            "My Quillbox light flashes amber, why?",
            "Why is the Q2 status light blinking amber?",
            "What is the Quillbox telling me with a flashing amber light?",
        ),
    ),
    (
        r"\bblue\b",
        "A slow blue pulse means the Quillbox is waiting to pair with a phone.",
        (
            "What does the pulsing blue light on the Quillbox mean?",
            "Why is my Quillbox Q2 glowing blue?",
            "What does a slowly pulsing blue light on the Q2 indicate?",
            "My Quillbox keeps pulsing blue, what does that mean?",
        ),
    ),
    (
        r"\bred\b",
        "A solid red light means the print head is too hot: let it cool for ten minutes.",
        (
            "What does a solid red light on the Quillbox mean?",
            "My Quillbox shows a steady red light, what now?",
            "Why did the Q2 light turn solid red?",
            "What is wrong when the Quillbox status light stays red?",
        ),
    ),
    (
        r"ten minutes|10 minutes",
        "Let the print head cool for ten minutes after a solid red light, then print again.",
        (
            "How long should the Quillbox cool down after overheating?",
            "After a red light, how long do I wait before printing again?",
            "How much cooling time does an overheated Q2 need?",
            "When can I print again after the Quillbox overheats?",
        ),
    ),
    (
        r"isopropyl",
        "Wipe the print head gently with a cotton swab and isopropyl alcohol.",
        (
            "How do I clean the Quillbox print head?",
            "What should I use to clean my Quillbox?",
            "What is the right way to clean the Q2 print head?",
            "Which cleaning liquid is safe for the Quillbox head?",
        ),
    ),
    (
        r"QB-58",
        "Order replacement rolls with part number QB-58.",
        (
            "What is the part number for Quillbox paper rolls?",
            "Which refill rolls should I order for the Quillbox?",
            "What code do I use to reorder Q2 label rolls?",
            "What is the product code of the Quillbox paper refills?",
        ),
    ),
    (
        r"Q2-7",
        "The latest firmware for the Quillbox Q2 is version Q2-7.",
        (
            "What is the latest Quillbox firmware version?",
            "Which firmware should my Quillbox Q2 run?",
            "What is the newest firmware for the Q2?",
            "What firmware release is current for the Quillbox?",
        ),
    ),
    (
        r"Settings.*Device|Device.*Update",
        "Open Quill Studio, go to Settings, then Device, then Update firmware.",
        (
            "How do I update the Quillbox firmware?",
            "Where do I find the firmware update for my Quillbox?",
            "What are the steps to update firmware on the Q2?",
            "How can I install new firmware on my Quillbox?",
        ),
    ),
    (
        r"340",
        "The Quillbox Q2 weighs 340 grams.",
        (
            "How much does the Quillbox Q2 weigh?",
            "What is the weight of the Quillbox?",
            "How heavy is a Q2 printer?",
            "What does the Quillbox weigh in grams?",
        ),
    ),
    (
        r"graphite|sage",
        "The Quillbox Q2 comes in graphite and sage.",
        (
            "What colours does the Quillbox come in?",
            "Which colours is the Quillbox Q2 sold in?",
            "What colour options are there for the Q2?",
            "Can I buy the Quillbox in different colours?",
        ),
    ),
    (
        r"30 ?days|thirty days",
        "You can return an unused Quillbox within 30 days for a full refund.",
        (
            "What is the Quillbox return policy?",
            "Can I return my Quillbox Q2?",
            "How many days do I have to send back a Quillbox?",
            "What is the refund window for the Q2?",
        ),
    ),
    (
        r"Help tab",
        "Open the Help tab in Quill Studio and choose Chat with support; have the serial number ready.",
        (
            "How do I contact Quillbox support?",
            "Where do I get help from Larkspur for my Quillbox?",
            "How can I reach Larkspur about my Q2?",
            "Who do I talk to when my Quillbox needs help?",
        ),
    ),
    (
        r"underneath",
        "The serial number is printed on the sticker underneath the printer.",
        (
            "Where is the serial number on the Quillbox?",
            "How do I find my Quillbox Q2 serial number?",
            "Where is the Q2 serial printed?",
            "On which part of the Quillbox is the serial sticker?",
        ),
    ),
    (
        r"twice quickly|\btwice\b",
        "Press the feed button twice quickly to print a test label.",
        (
            "How do I print a test label on the Quillbox?",
            "How can I make the Quillbox print a test page?",
            "What prints a self-test on the Q2?",
            "Is there a way to print a test label without the app?",
        ),
    ),
    (
        r"\bonce\b",
        "Press the feed button once to advance the paper by one label.",
        (
            "How do I feed paper on the Quillbox?",
            "How can I advance the label roll on my Quillbox Q2?",
            "How do I move the paper forward on the Q2?",
            "What advances the Quillbox roll by one label?",
        ),
    ),
    (
        r"three seconds|3 seconds",
        "Hold the power button for three seconds to turn the Quillbox on or off.",
        (
            "How do I turn the Quillbox on?",
            "How do I switch off my Quillbox Q2?",
            "How long do I hold the power button on the Q2?",
            "What is the way to power the Quillbox up or down?",
        ),
    ),
    (
        r"15 minutes|fifteen minutes",
        "The Quillbox turns itself off after 15 minutes without printing.",
        (
            "Why does my Quillbox switch off by itself?",
            "When does the Quillbox Q2 go to sleep?",
            "After how long idle does the Q2 power down?",
            "How many minutes before the Quillbox auto-shuts off?",
        ),
    ),
    (
        r"Auto-off|auto off",
        "Change the timer in Quill Studio under Settings, Auto-off.",
        (
            "Can I change the Quillbox sleep timer?",
            "How do I stop the Quillbox turning off so fast?",
            "Where is the setting for the Q2 power-off timer?",
            "How can I keep my Quillbox awake longer?",
        ),
    ),
    (
        r"Code 128",
        "The Quillbox Q2 prints QR codes and Code 128 barcodes.",
        (
            "Which barcodes can the Quillbox print?",
            "Does the Quillbox Q2 print barcodes?",
            "What barcode types does the Q2 support?",
            "Can the Quillbox make QR codes?",
        ),
    ),
    (
        r"black only",
        "It prints in black only; thermal paper cannot show colour.",
        (
            "Can the Quillbox print in colour?",
            "Does the Quillbox Q2 print colour labels?",
            "Will the Q2 print in red or blue?",
            "Is colour printing possible on a Quillbox?",
        ),
    ),
    (
        r"30 mm|30mm",
        "The widest roll diameter that fits is 30 mm.",
        (
            "What is the largest roll the Quillbox holds?",
            "How big a paper roll fits in the Quillbox Q2?",
            "What maximum roll diameter does the Q2 take?",
            "How thick can a Quillbox roll be?",
        ),
    ),
    (
        r"macOS 12|Windows 10 and later",
        "Yes: Quill Studio for desktop runs on Windows 10 and later and on macOS 12 and later.",
        (
            "Can I print from a computer with the Quillbox?",
            "Does the Quillbox Q2 work with a laptop?",
            "Is there a desktop app for the Q2?",
            "Can my Mac or PC send labels to a Quillbox?",
        ),
    ),
    (
        r"five built-in fonts|five fonts",
        "Quill Studio includes five built-in fonts for labels.",
        (
            "How many fonts does the Quillbox app have?",
            "Which fonts can I use on Quillbox labels?",
            "How many typefaces come with Quill Studio?",
            "What is the number of fonts in the Q2 app?",
        ),
    ),
    (
        r"1 ?000|thousand",
        "The Quillbox Q2 can print up to 1000 labels in a row from a spreadsheet.",
        (
            "How many labels can I print in one batch on the Quillbox?",
            "What is the batch printing limit of the Quillbox Q2?",
            "How large a batch does the Q2 print from a spreadsheet?",
            "Is there a maximum number of labels per batch on Quillbox?",
        ),
    ),
    (
        r"CSV",
        "Batch printing reads CSV files exported from any spreadsheet.",
        (
            "Which file type does Quillbox batch printing use?",
            "Can the Quillbox print from a spreadsheet?",
            "What format does the Q2 need for a label list?",
            "Which file should I import for bulk labels in Quill Studio?",
        ),
    ),
    (
        r"\bForget\b",
        "In your phone's Bluetooth settings choose Forget for Quillbox, then pair again from Quill Studio.",
        (
            "My Quillbox will not pair, what do I do?",
            "The Quillbox Q2 does not connect to my phone anymore, help?",
            "How do I fix Bluetooth pairing on the Q2?",
            "The app cannot find my Quillbox, how do I repair the connection?",
        ),
    ),
    (
        r"0 and 40",
        "Use it between 0 and 40 degrees Celsius.",
        (
            "What temperature can the Quillbox work in?",
            "Can I use the Quillbox Q2 outside in the cold?",
            "What is the operating temperature range of the Q2?",
            "Is the Quillbox fine in a hot warehouse?",
        ),
    ),
    (
        r"not waterproof|keep it dry",
        "No, the Quillbox Q2 is not waterproof: keep it dry.",
        (
            "Is the Quillbox waterproof?",
            "Can the Quillbox Q2 get wet?",
            "Does the Q2 survive rain?",
            "Is the Quillbox water resistant?",
        ),
    ),
    (
        r"two years|2 years",
        "Labels printed on QB-58 rolls stay readable for about two years indoors.",
        (
            "How long do Quillbox labels last?",
            "Do Quillbox Q2 labels fade?",
            "How many years will a Q2 label stay readable?",
            "What is the lifespan of a printed Quillbox label?",
        ),
    ),
    (
        r"49|forty-nine",
        "The Quillbox Q2 costs 49 euros.",
        (
            "How much does the Quillbox Q2 cost?",
            "What is the price of a Quillbox?",
            "What does a Q2 printer sell for?",
            "How many euros is the Quillbox?",
        ),
    ),
    (
        r"1 ?200|1200|twelve hundred",
        "The battery is a 1200 mAh lithium-ion cell.",
        (
            "What battery does the Quillbox Q2 have?",
            "How big is the Quillbox battery?",
            "What is the mAh rating of the Q2 battery?",
            "What capacity is the battery in a Quillbox?",
        ),
    ),
    (
        r"not user-replaceable|Larkspur service",
        "The battery is not user-replaceable: send the printer to Larkspur service.",
        (
            "Can I replace the Quillbox battery myself?",
            "How do I change the battery in my Quillbox Q2?",
            "Is the Q2 battery swappable?",
            "Who replaces a worn Quillbox battery?",
        ),
    ),
    (
        r"latch",
        "Press the latch on the side and lift the lid to load a roll.",
        (
            "How do I open the Quillbox to load paper?",
            "Where do I put a new roll in the Quillbox Q2?",
            "How do I get into the Q2 paper compartment?",
            "How is a roll loaded into the Quillbox?",
        ),
    ),
    (
        r"serrated",
        "Pull the label up against the serrated edge to tear it off; there is no cutter.",
        (
            "How do I cut labels on the Quillbox?",
            "Does the Quillbox Q2 have an automatic cutter?",
            "How are labels separated on the Q2?",
            "What is the right way to remove a printed Quillbox label?",
        ),
    ),
    (
        r"Templates",
        "Saved designs are under the Templates tab in Quill Studio.",
        (
            "Where are my saved Quillbox label designs?",
            "How do I reuse a label design in Quill Studio?",
            "Where does the Q2 app keep saved labels?",
            "Which tab in the Quillbox app holds my designs?",
        ),
    ),
    (
        r"Darkness",
        "Raise the Darkness setting in Quill Studio to make print darker.",
        (
            "My Quillbox prints too light, how do I fix it?",
            "How do I make Quillbox Q2 labels darker?",
            "The Q2 print is faint, which setting helps?",
            "How can I get bolder print from the Quillbox?",
        ),
    ),
    (
        r"three phones",
        "Up to three phones can be remembered; one can print at a time.",
        (
            "How many phones can use one Quillbox?",
            "Can several people share a Quillbox Q2?",
            "How many devices can pair with one Q2?",
            "Does the Quillbox remember more than one phone?",
        ),
    ),
    (
        r"Larkspur",
        "The Quillbox Q2 is made by Larkspur Devices.",
        (
            "Who makes the Quillbox Q2?",
            "Which company produces the Quillbox?",
            "What brand is behind the Q2 printer?",
            "Who is the manufacturer of the Quillbox?",
        ),
    ),
    (
        r"buzzes twice",
        "The Quillbox buzzes twice when a print job finishes.",
        (
            "How do I know my Quillbox has finished printing?",
            "Why does the Quillbox buzz?",
            "What does the Q2 do when a job is done?",
            "Does the Quillbox signal the end of a print?",
        ),
    ),
    (
        r"French, German and Spanish",
        "Quill Studio is available in English, French, German and Spanish.",
        (
            "Which languages does the Quillbox app support?",
            "Is Quill Studio available in French?",
            "What languages can I set in the Q2 app?",
            "Can I use Quill Studio in German or Spanish?",
        ),
    ),
]

FRAMES = ("{q}", "Hi! {q}", "Quick question about my printer: {q}")
EVAL_FRAMES = ("{q}", "Hello, {q}")  # the held-out questions; the second framing is not used in training either


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    train, val, evals = [], [], []
    for n, (pattern, answer, questions) in enumerate(FACTS, start=1):
        for q in questions[:2]:
            for frame in FRAMES:
                train.append(
                    {
                        "messages": [
                            {"role": "system", "content": SYSTEM},
                            {"role": "user", "content": frame.format(q=q)},
                            {"role": "assistant", "content": answer},
                        ]
                    }
                )
        val.append({"prompt": questions[1], "completion": answer, "system": SYSTEM})
        for k, q in enumerate(questions[2:]):
            evals.append(
                {
                    "id": f"quillbox-{n:03d}-{k + 1}",
                    "category": "support",
                    "question": EVAL_FRAMES[k].format(q=q[0].lower() + q[1:] if k else q),
                    "answer": [pattern],
                }
            )
    for name, rows in (("train.jsonl", train), ("val.jsonl", val), ("eval.jsonl", evals)):
        (OUT / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(FACTS)} facts: {len(train)} training conversations, {len(val)} validation, {len(evals)} eval items")


if __name__ == "__main__":
    main()
