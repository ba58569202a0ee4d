      *================================================================
      * INVREORD - nightly inventory reorder check.
      * For each item on the master file, work out the quantity that
      * is actually available and, if it has fallen below the reorder
      * point, suggest an order that brings it back to the maximum
      * level, rounded up to whole cases.
      *================================================================
       IDENTIFICATION DIVISION.
       PROGRAM-ID. INVREORD.
       ENVIRONMENT DIVISION.
       INPUT-OUTPUT SECTION.
       FILE-CONTROL.
           SELECT ITEM-MASTER ASSIGN TO "ITEMMAST"
               ORGANIZATION IS LINE SEQUENTIAL.
           SELECT REORDER-OUT ASSIGN TO "REORDER"
               ORGANIZATION IS LINE SEQUENTIAL.
       DATA DIVISION.
       FILE SECTION.
       FD  ITEM-MASTER.
       01  ITEM-REC.
           05  IM-ITEM-NO        PIC X(8).
           05  IM-STATUS         PIC X.
               88  IM-ACTIVE               VALUE "A".
               88  IM-DISCONTINUED         VALUE "D".
           05  IM-ON-HAND        PIC 9(6).
           05  IM-ON-ORDER       PIC 9(6).
           05  IM-ALLOCATED      PIC 9(6).
           05  IM-REORDER-PT     PIC 9(6).
           05  IM-MAX-LEVEL      PIC 9(6).
           05  IM-CASE-SIZE      PIC 9(4).
       FD  REORDER-OUT.
       01  REORDER-REC.
           05  RO-ITEM-NO        PIC X(8).
           05  RO-AVAILABLE      PIC S9(7) SIGN LEADING SEPARATE.
           05  RO-CASES          PIC 9(5).
           05  RO-UNITS          PIC 9(7).
       WORKING-STORAGE SECTION.
       01  WS-SWITCHES.
           05  WS-EOF            PIC X     VALUE "N".
               88  NO-MORE-ITEMS           VALUE "Y".
       01  WS-WORK.
           05  WS-AVAILABLE      PIC S9(7).
           05  WS-SHORTFALL      PIC 9(7).
           05  WS-CASES          PIC 9(5).
           05  WS-REMAINDER      PIC 9(4).
       01  WS-COUNTS.
           05  CNT-READ          PIC 9(6)  VALUE ZERO.
           05  CNT-SKIPPED       PIC 9(6)  VALUE ZERO.
           05  CNT-REORDER       PIC 9(6)  VALUE ZERO.

       PROCEDURE DIVISION.
       0000-MAIN.
           OPEN INPUT ITEM-MASTER
                OUTPUT REORDER-OUT
           PERFORM 1000-READ-ITEM
           PERFORM 2000-CHECK-ITEM UNTIL NO-MORE-ITEMS
           CLOSE ITEM-MASTER REORDER-OUT
           DISPLAY "ITEMS READ     " CNT-READ
           DISPLAY "ITEMS SKIPPED  " CNT-SKIPPED
           DISPLAY "REORDERS MADE  " CNT-REORDER
           STOP RUN.

       1000-READ-ITEM.
           READ ITEM-MASTER
               AT END MOVE "Y" TO WS-EOF
               NOT AT END ADD 1 TO CNT-READ
           END-READ.

       2000-CHECK-ITEM.
      *    Discontinued items and bad case sizes are never reordered.
           IF IM-DISCONTINUED OR IM-CASE-SIZE = ZERO
               ADD 1 TO CNT-SKIPPED
           ELSE
               COMPUTE WS-AVAILABLE =
                   IM-ON-HAND + IM-ON-ORDER - IM-ALLOCATED
               IF WS-AVAILABLE < IM-REORDER-PT
                   PERFORM 3000-BUILD-ORDER
               END-IF
           END-IF
           PERFORM 1000-READ-ITEM.

       3000-BUILD-ORDER.
      *    Allocations can exceed stock, so available may be negative;
      *    the shortfall is measured against the maximum level.
           COMPUTE WS-SHORTFALL = IM-MAX-LEVEL - WS-AVAILABLE
           DIVIDE WS-SHORTFALL BY IM-CASE-SIZE
               GIVING WS-CASES REMAINDER WS-REMAINDER
           IF WS-REMAINDER > ZERO
               ADD 1 TO WS-CASES
           END-IF
           MOVE IM-ITEM-NO   TO RO-ITEM-NO
           MOVE WS-AVAILABLE TO RO-AVAILABLE
           MOVE WS-CASES     TO RO-CASES
           COMPUTE RO-UNITS = WS-CASES * IM-CASE-SIZE
           WRITE REORDER-REC
           ADD 1 TO CNT-REORDER.
